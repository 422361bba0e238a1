"""Attestation sessions: opaque ids, expiry, a size cap, and no secret in their repr."""

from __future__ import annotations

import time

from cds_service.attest.sessions import AttestSession, SessionStore


def session() -> AttestSession:
    return AttestSession(iss="https://ehr.example/fhir", launch="l1", smart={"token_endpoint": "t"})


def test_a_session_is_found_by_its_opaque_id_until_it_expires() -> None:
    store = SessionStore(lifetime_seconds=0.2)
    sid = store.create(session())
    assert len(sid) >= 40 and store.get(sid) is not None and store.get("guess") is None and store.get(None) is None
    time.sleep(0.25)
    assert store.get(sid) is None and len(store) == 0


def test_the_oldest_session_goes_when_the_store_is_full() -> None:
    store = SessionStore(lifetime_seconds=60, max_sessions=2)
    first, second, third = (store.create(session()) for _ in range(3))
    assert store.get(first) is None and store.get(second) is not None and store.get(third) is not None


def test_a_dropped_session_is_gone() -> None:
    store = SessionStore(lifetime_seconds=60)
    sid = store.create(session())
    store.drop(sid)
    assert store.get(sid) is None


def test_the_repr_of_a_session_shows_no_token_state_or_verifier() -> None:
    s = session()
    s.access_token = "secret-token-value"
    text = repr(s)
    assert "secret-token-value" not in text and s.state not in text and s.code_verifier not in text
    assert s.authorized
