"""immichvr-depth's domain, shared by every Lambda through the layer, grouped by flow.

Subpackages, in import order: each imports only those above it, never one beside or below it
(tests/unit/test_layering.py holds it to that), and none imports the handlers in functions/ or the
local runner.

- `platform`: settings, AWS clients, errors, logs and metrics, secrets, the HTTP resolver.
- `store`: the vocabulary (versions, statuses), the tables, the S3 key scheme, item and depth-map
  records, the processing queue.
- `imaging`: decoding, thumbnails, model input and depth PNGs (Pillow and numpy, never torch).
- `intake`, `depth`, `serving`: the three flows of a photo. Intake brings it in (Immich import,
  webhook, sync, album, uploads) and queues it; depth makes its maps; serving answers for it
  (delivery, regeneration, eviction, deletion). They talk only through `store`.

Subpackages' `__init__` modules import nothing, so a function loads only the modules it uses.
"""
