"""Deployment helpers of the compose stack (see deploy/stack.sh, the `make up` front door)."""
