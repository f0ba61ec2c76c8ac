"""What is stored and how: `versions` and `status` (the fixed vocabulary), `tables` (the pynamodb
models, bound to the tables the settings name), `keys` (the S3 key scheme), `conditions` (telling a
refused conditional write from a failure), `media_items` (reading, claiming, updating and moving an
item between statuses, listing), `depth_maps` (depth-map files and their records, written file first
and record last, with generations, access counts and eviction marks) and `processing_queue` (the
message asking for an item's depth maps, and sending it). Imports only `platform`."""
