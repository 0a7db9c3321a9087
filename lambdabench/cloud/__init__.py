"""Lambda Cloud: the API client, its models and its errors."""
