"""The demo trial: NCT06167473 simulated from screening to week 48."""
