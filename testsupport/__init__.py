"""What the tests and the scripts share: launchers for mitmdump (``mitmdump``) and redis-server
(``redis_server``), the stand-in LLM server (``standin``), raw and generating upstreams
(``raw_upstream``, ``stream_upstream``), sample identifiers (``samples``) and a corpus of
AWS-flavoured text and request bodies (``corpus``). Importable from the repository root (pytest's
``pythonpath``; the scripts put the root on ``sys.path``)."""
