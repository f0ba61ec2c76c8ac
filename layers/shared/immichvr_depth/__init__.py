"""Shared domain package of immichvr-depth: one home for every concept the Lambdas share."""
