"""The mapping language and its evaluation: loading and checking ``mappings/``, value sets, facts, selections,
rules by operator family, the time model, episode and phase, policy trees, and the evaluator.

May import ``record.patient_record`` (the data it reads) and the top-level config; never HTTP or the FHIR client.
"""
