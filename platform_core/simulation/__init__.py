"""Monte Carlo simulation kernels (single-stage base-stock: ``single_stage``)."""
