"""Outcomes to CDS cards: safety, findings, documentation and service notes, plus Da Vinci CRD coverage information.

May import engine results and ``record.patient_record``; never the HTTP surface or the FHIR client.
"""
