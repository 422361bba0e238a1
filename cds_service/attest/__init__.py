"""The attestation loop: FHIR Questionnaires of the attestable criteria, and the SMART app that answers them.

May import engine, record, cards, config and logs; ``hooks`` registers its blueprint.
"""
