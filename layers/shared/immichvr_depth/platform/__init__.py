"""What every flow stands on, and nothing of any flow: `settings` (the one reader of the environment),
`aws` (boto3 clients shared per process, S3 error checks), `errors` (the AppError family and the
HTTP status each maps to), `observability` (the Powertools logger and metrics), `secrets` (the Immich
API key and the webhook secret, direct or from SSM) and `http` (the REST resolver the HTTP functions
share: CORS, JSON errors). Imports no other subpackage."""
