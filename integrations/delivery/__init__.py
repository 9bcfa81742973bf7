"""Outbound delivery: merchant webhooks over HTTP (`http`) and customer emails (`email`)."""
