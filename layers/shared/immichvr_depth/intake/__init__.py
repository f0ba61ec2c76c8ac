"""Bringing photos in: `immich` (the Immich HTTP client for Immich 1.137 to 3.x), `immich_import`
(one asset: preview and original into S3, one media item, one queue message), `new_items` (the
all-or-nothing write every intake path ends with), `upload_tickets` (presigned POSTs into the upload
prefix), `upload_ingest` (an object landed under uploads/), `import_queue` (the Immich import queue
and its worker's retry rules), `webhook` (Immich's Trigger Webhook action), `sync` (the scheduled
sync and album imports) and `responses` (the typed JSON answers of the intake routes). Imports
`platform`, `store` and `imaging`."""
