"""Amazon ECR's AWS JSON 1.1 API: protocol front door, model validation and SigV4."""
