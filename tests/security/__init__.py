"""Attacks on a served ledger, one test per finding, each first written as the attack that worked."""
