"""Making depth maps: `backends` (the SageMaker endpoint, real-time or asynchronous, or a backend
registered by name), `processing` (an item's maps, thumbnail first, then full resolution, made or
submitted), `async_inference` (what the processor leaves in S3 for an asynchronous endpoint and the
notifications it answers with) and `completion` (storing asynchronous answers and finishing the item).
Imports `platform`, `store` and `imaging`."""
