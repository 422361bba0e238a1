"""Rules: the closed set of criterion-level operators, one module per family.

Each rule yields true, false or unknown with its evidence; ``compiler`` turns the YAML form into rules.
"""
