"""Command line: mask or unmask text outside the proxy (logs pasted into a chat window).

    python -m awsmasker mask   [--map PATH] [--config PATH] [--suffix SUF] [FILE ...]
    python -m awsmasker unmask [--map PATH] [--config PATH] [--suffix SUF] [FILE ...]

No FILE (or ``-``) reads standard input; one FILE without ``--suffix`` writes standard output;
with ``--suffix`` each result goes beside its input as FILE+SUF. The masker, the catalogue and the
``masker.yaml`` settings are the proxy's. Mappings live in ``--map PATH`` (see
:mod:`awsmasker.store.mapfile`), else in the configured Redis store, whose tokens are the proxy's.

Every input is read and checked before anything is written, and the output files are written to
temporary files that are renamed into place only once all of them are complete: on any error,
nothing is written. Exit status: 0 done; 1 the store did not answer (or standard output was
closed); 2 bad input, usage, configuration, key or map file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from awsmasker.config import ConfigError, Settings, config_source, load_file, validate
from awsmasker.store.base import MappingStore, StoreError
from awsmasker.tokens import TOKEN_RE

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


@dataclass(slots=True)
class Source:
    name: str  # for messages
    path: Path | None  # None: standard input
    text: str


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m awsmasker",
        description="Mask AWS identifiers in text, or put them back, outside the proxy; or watch "
        "the proxy's masking events.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{mask,unmask,watch}")
    for name, text in (
        ("mask", "replace AWS identifiers by tokens (AWS_EC2_001…)"),
        ("unmask", "replace tokens by their originals"),
    ):
        p = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        p.add_argument("files", nargs="*", metavar="FILE",
                       help="UTF-8 text files; none or '-': standard input")
        p.add_argument("--suffix", metavar="SUF",
                       help="write each result beside its input as FILE+SUF "
                            "(required with several files)")
        p.add_argument("--map", metavar="PATH",
                       help="keep the mapping in this local file (created 0600, originals "
                            "encrypted) instead of the configured store")
        p.add_argument("--config", metavar="PATH",
                       help="masker.yaml to use (default: $AWS_MASKER_CONFIG, else "
                            "./masker.yaml if present)")
    sub.add_parser("watch", help="follow the proxy's masking events live (options: watch --help)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["watch"]:  # the watcher has options of its own
        from awsmasker.watch import main as watch

        return watch(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(run(args))
    except CliError as e:
        print(f"aws-masker: {e}", file=sys.stderr)
        return e.code


# -- inputs and settings -----------------------------------------------------------------------


def read_sources(files: list[str], suffix: str | None) -> list[Source]:
    if files == ["-"] or not files:
        if suffix is not None:
            raise CliError("--suffix needs FILE arguments (standard input goes to standard output)")
        return [Source("standard input", None, decode("standard input", sys.stdin.buffer.read()))]
    if len(files) > 1 and suffix is None:
        raise CliError(f"{len(files)} files given: add --suffix SUF to write each result beside "
                       "its input as FILE+SUF")
    if "-" in files:
        raise CliError("'-' (standard input) cannot be one of several inputs")
    if suffix is not None and not suffix:
        raise CliError("--suffix must not be empty (it would overwrite the input)")
    sources = []
    for name in files:
        try:
            data = Path(name).read_bytes()
        except OSError as e:
            raise CliError(f"{name}: cannot read: {e.strerror or e}") from None
        sources.append(Source(name, Path(name), decode(name, data)))
    return sources


def decode(name: str, data: bytes) -> str:
    """The text of an input; binary data is refused (it could hide identifiers from the scan)."""
    nul = data.find(b"\0")
    if nul >= 0:
        raise CliError(f"{name}: binary file (NUL byte at offset {nul}); only text is masked")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CliError(f"{name}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset "
                       f"{e.start}); only text is masked") from None


def load_settings(config: str | None) -> Settings:
    """The proxy's lookup: ``--config``, else ``$AWS_MASKER_CONFIG``, else ./masker.yaml."""
    path, _ = config_source(config or "")
    try:
        return validate(load_file(path) if path else {})
    except ConfigError as e:
        raise CliError(f"configuration: {e}") from None


# -- the store -----------------------------------------------------------------------------


def _keys(settings: Settings):
    from awsmasker.store.keys import MasterKeyError, load_store_keys

    try:
        return load_store_keys(settings.encryption_key, settings.encryption_key_file)
    except MasterKeyError as e:
        raise CliError(f"encryption key: {e}") from None


@contextlib.asynccontextmanager
async def open_store(command: str, settings: Settings,
                     map_path: str | None) -> AsyncIterator[MappingStore]:
    if map_path:
        from awsmasker.store.mapfile import MapFile, MapFileError

        if command == "unmask" and not Path(map_path).exists():
            raise CliError(f"map file {map_path} does not exist (nothing was masked with it)")
        try:
            with MapFile(map_path, _keys(settings)) as store:
                yield store
                store.save()
        except MapFileError as e:
            raise CliError(str(e)) from None
        return
    if settings.store == "redis":
        from awsmasker.redis_client import SharedRedis
        from awsmasker.store.keys import MasterKeyError
        from awsmasker.store.redis_store import RedisStore

        redis = SharedRedis(settings.redis_url)
        try:  # the proxy's store, keys and namespace: the same value gets the proxy's token
            store = RedisStore.from_settings(redis, settings)
        except MasterKeyError as e:
            raise CliError(f"encryption key: {e}") from None
        try:
            yield store
        finally:
            await redis.close()
        return
    if command == "unmask":
        raise CliError("the configured store is memory, which keeps no mappings between runs: "
                       "give the --map PATH used to mask (or use store: redis)")
    from awsmasker.store.memory import MemoryStore

    print("aws-masker: store is memory: this run's mappings are not kept, so its output cannot "
          "be unmasked later (use --map PATH, or store: redis)", file=sys.stderr)
    yield MemoryStore()


# -- mask and unmask -----------------------------------------------------------------------------


async def mask(sources: list[Source], settings: Settings, store: MappingStore) -> list[str]:
    from awsmasker.body import Masker, MaskingError

    masker = Masker(disabled_types=settings.disabled_types, allow_values=settings.allow_values,
                    mask_public_ips=settings.mask_public_ips, keep_thinking=False)
    outputs = []
    counts: Counter[str] = Counter()
    for src in sources:
        try:
            plan = masker.plan(src.text)
        except MaskingError as e:
            raise CliError(f"{src.name}: {e}") from None
        tokens = (await store.resolve(plan.findings)).tokens if plan.findings else []
        outputs.append(plan.apply(tokens, json_quotes=False))
        counts.update(plan.counts)
    if counts:
        summary = ", ".join(f"{t} {n}" for t, n in sorted(counts.items()))
        print(f"aws-masker: masked {counts.total()} ({summary})", file=sys.stderr)
    return outputs


async def unmask(sources: list[Source], store: MappingStore) -> list[str]:
    present = list(dict.fromkeys(m[0] for s in sources for m in TOKEN_RE.finditer(s.text)))
    originals = (await store.resolve([], present)).originals if present else {}
    missing: Counter[str] = Counter()

    def original(m) -> str:
        value = originals.get(m[0])
        if value is None:
            missing[m[0]] += 1
            return m[0]
        return value

    outputs = [TOKEN_RE.sub(original, s.text) for s in sources]
    if missing:
        names = ", ".join(sorted(missing)[:10]) + (", …" if len(missing) > 10 else "")
        print(f"aws-masker: {missing.total()} token(s) have no mapping in this store and were "
              f"left as they are (secrets are never stored): {names}", file=sys.stderr)
    return outputs


async def run(args: argparse.Namespace) -> int:
    sources = read_sources(args.files, args.suffix)
    settings = load_settings(args.config)
    targets = [Path(f"{s.path}{args.suffix}") for s in sources] if args.suffix else []
    inputs = {s.path.resolve() for s in sources if s.path is not None}
    for t in targets:
        if t.resolve() in inputs:
            raise CliError(f"{t}: the output would overwrite an input")
    try:
        async with open_store(args.command, settings, args.map) as store:
            if args.command == "mask":
                outputs = await mask(sources, settings, store)
            else:
                outputs = await unmask(sources, store)
    except StoreError as e:
        from awsmasker.store.redis_store import StoreKeyMismatch

        if isinstance(e, StoreKeyMismatch):
            raise CliError(f"cannot decrypt: wrong encryption key? {e}") from None
        raise CliError(f"mapping store error: {e}", EXIT_FAILED) from None
    if targets:
        write_all(targets, outputs)
    else:
        try:
            sys.stdout.buffer.write(outputs[0].encode("utf-8"))
            sys.stdout.buffer.flush()
        except BrokenPipeError:  # the reader went away (``| head``): not worth a traceback
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_FAILED
    return 0


def write_all(targets: list[Path], outputs: list[str]) -> None:
    """Each output to its target, all or none: temporary files (0600) renamed once complete."""
    temps: list[str] = []
    try:
        for target, text in zip(targets, outputs, strict=True):
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
            temps.append(tmp)
            with os.fdopen(fd, "wb") as f:
                f.write(text.encode("utf-8"))
        for target, tmp in zip(targets, temps, strict=True):
            os.replace(tmp, target)
    except OSError as e:
        for tmp in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise CliError(f"cannot write output: {e.strerror or e} "
                       f"({getattr(e, 'filename', None) or 'output file'})") from None
