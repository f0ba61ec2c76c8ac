"""Answering for stored photos: `delivery` (a depth map inline, 304, by presigned redirect, or 202
while an evicted map is made again), `regeneration` (making maps again on request or after eviction),
`eviction` (deleting idle full-resolution maps), `deletion` (an item with every file and record) and
`responses` (the typed JSON answers of the media routes). Imports `platform` and `store`."""
