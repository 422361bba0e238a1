"""Gathering the patient record: prefetch of every shape, the FHIR client (token confined to the EHR's server),
referenced resources, the indexed ``PatientRecord``, IOP order recognition, and hook requests built from a Bundle.

May import the top-level config and logs only; never the engine, the cards or the HTTP surface.
"""
