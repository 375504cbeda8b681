"""What the tests and the scripts share: launchers for mitmdump and mitmweb (``mitmdump``) and
redis-server (``redis_server``), the stand-in LLM server (``standin``), raw and generating
upstreams (``raw_upstream``, ``stream_upstream``), sample identifiers (``samples``), a corpus of
generated AWS-flavoured text and request bodies (``corpus``) and the corpus of real AWS text with
its independent labeller (``realcorpus``, ``labels``). Importable from the repository root
(pytest's ``pythonpath``; the scripts put the root on ``sys.path``)."""
