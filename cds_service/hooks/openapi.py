"""The service's machine-readable contract: an OpenAPI 3.1 document for discovery, both hooks, feedback, health."""

from __future__ import annotations

import copy
from typing import Any

from cds_service.hooks.services import SERVICES, ServiceDefinition
from cds_service.record.request import FHIR_ID, FHIR_SERVER_URL

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _outcome(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref("OperationOutcome")}}}


SCHEMAS: dict[str, Any] = {
    "OperationOutcome": {
        "type": "object",
        "required": ["resourceType", "issue"],
        "properties": {
            "resourceType": {"const": "OperationOutcome"},
            "issue": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["severity", "code"],
                    "properties": {
                        "severity": {"type": "string"},
                        "code": {"type": "string"},
                        "diagnostics": {"type": "string"},
                        "expression": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    },
    "Coding": {
        "type": "object",
        "required": ["system", "code"],
        "properties": {"system": {"type": "string"}, "code": {"type": "string"}, "display": {"type": "string"}},
    },
    "Resource": {"type": "object", "required": ["resourceType"], "properties": {"resourceType": {"type": "string"}}},
    "FhirAuthorization": {
        "type": "object",
        "required": ["access_token", "token_type"],
        "properties": {
            "access_token": {"type": "string", "minLength": 1, "pattern": "\\S"},
            "token_type": {"type": "string", "pattern": "^[Bb][Ee][Aa][Rr][Ee][Rr]$"},
            "expires_in": {"type": ["integer", "null"]},
            "scope": {"type": "string"},
            "subject": {"type": "string"},
        },
    },
    "Extension": {
        "type": "object",
        "properties": {
            "iop-cds.policies": {"type": ["array", "null"], "minItems": 1, "items": {"enum": []}},
            "iop-cds.evaluation-time": {"type": ["string", "null"], "format": "date-time"},
            "davinci-crd.configuration": {"description": "CRD switches; values of the wrong type are ignored"},
        },
    },
    "Card": {
        "type": "object",
        "required": ["uuid", "summary", "indicator", "source"],
        "properties": {
            "uuid": {"type": "string"},
            "summary": {"type": "string", "maxLength": 140},
            "detail": {"type": "string"},
            "indicator": {"enum": ["info", "warning", "critical"]},
            "source": {
                "type": "object",
                "required": ["label"],
                "properties": {"label": {"type": "string"}, "url": {"type": "string"}, "topic": _ref("Coding")},
            },
            "suggestions": {"type": "array", "items": {"type": "object"}},
            "selectionBehavior": {"enum": ["at-most-one", "any"]},
            "overrideReasons": {"type": "array", "items": _ref("Coding")},
            "links": {"type": "array", "items": {"type": "object"}},
        },
    },
    "HookResponse": {
        "type": "object",
        "required": ["cards"],
        "properties": {
            "cards": {"type": "array", "items": _ref("Card")},
            "systemActions": {
                "type": "array",
                "items": {"type": "object", "required": ["type", "description"]},
            },
            "extension": {"type": "object"},
        },
    },
    "Feedback": {
        "type": "object",
        "required": ["feedback"],
        "properties": {
            "feedback": {
                "type": "array",
                "minItems": 1,
                "maxItems": 100,
                "items": {
                    "type": "object",
                    "required": ["card", "outcome", "outcomeTimestamp"],
                    "properties": {
                        "card": {"type": "string", "minLength": 1, "maxLength": 128},
                        "outcome": {"enum": ["accepted", "overridden"]},
                        "outcomeTimestamp": {"type": "string", "format": "date-time"},
                        "acceptedSuggestions": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["id"],
                                "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 128}},
                            },
                        },
                        "overrideReason": {"type": "object"},
                    },
                },
            }
        },
    },
}


def hook_request(hook: str, policies: list[str]) -> dict[str, Any]:
    """The request body one hook's service accepts (what ``hooks.protocol`` validates)."""
    fhir_id = {"type": "string", "pattern": f"^{FHIR_ID.pattern}$"}
    context: dict[str, Any] = {
        "userId": {"type": "string", "pattern": "^(Practitioner|PractitionerRole|Patient|RelatedPerson)/"},
        "patientId": fhir_id,
    }
    if hook == "order-sign":
        context["draftOrders"] = {
            "type": "object",
            "required": ["resourceType"],
            "properties": {
                "resourceType": {"const": "Bundle"},
                "entry": {
                    "type": "array",
                    "items": {"type": "object", "required": ["resource"], "properties": {"resource": _ref("Resource")}},
                },
            },
        }
    else:
        context["encounterId"] = fhir_id
    extension = copy.deepcopy(SCHEMAS["Extension"])
    extension["properties"]["iop-cds.policies"]["items"]["enum"] = policies
    return {
        "type": "object",
        "required": ["hook", "hookInstance", "context"],
        "properties": {
            "hook": {"const": hook},
            "hookInstance": {"type": "string", "format": "uuid"},
            "fhirServer": {"type": ["string", "null"], "pattern": f"^{FHIR_SERVER_URL.pattern}$"},
            "fhirAuthorization": {"anyOf": [_ref("FhirAuthorization"), {"type": "null"}]},
            "context": {"type": "object", "required": list(context), "properties": context},
            "prefetch": {"type": ["object", "null"]},
            "extension": extension,
        },
        "dependentRequired": {"fhirAuthorization": ["fhirServer"]},
    }


def openapi_document(policies: list[str]) -> dict[str, Any]:
    """The OpenAPI 3.1 description of every endpoint the service answers (``policies``: the loaded keys)."""
    errors = {
        "400": _outcome("The request breaks the CDS Hooks contract; the issue names the field"),
        "401": {"description": "Missing or invalid client JWT (when authentication is on)"},
        "413": _outcome("The request body is larger than the configured limit"),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "iop-cds",
            "version": "1",
            "description": "CDS Hooks 2.0 service: payer requirements of behavioural-health IOP orders and discharges.",
        },
        "paths": {
            "/cds-services": {
                "get": {
                    "summary": "Discovery: the services and their prefetch templates",
                    "responses": {
                        "200": {
                            "description": "The services",
                            "content": {
                                JSON: {
                                    "schema": {
                                        "type": "object",
                                        "required": ["services"],
                                        "properties": {"services": {"type": "array", "items": {"type": "object"}}},
                                    }
                                }
                            },
                        }
                    },
                }
            },
            **{
                path: item
                for service in SERVICES.values()
                for path, item in _service_paths(service, policies, errors).items()
            },
            **_questionnaire_paths(),
            "/healthz": {
                "get": {
                    "summary": "Liveness, with the policies loaded",
                    "responses": {
                        "200": {
                            "description": "Up",
                            "content": {
                                JSON: {
                                    "schema": {
                                        "type": "object",
                                        "required": ["status", "policies"],
                                        "properties": {
                                            "status": {"const": "ok"},
                                            "policies": {"type": "array", "items": {"type": "string"}},
                                        },
                                    }
                                }
                            },
                        }
                    },
                }
            },
        },
        "components": {"schemas": SCHEMAS},
    }


def _service_paths(service: ServiceDefinition, policies: list[str], errors: dict[str, Any]) -> dict[str, Any]:
    """The hook endpoint and the feedback endpoint of one service."""
    base = f"/cds-services/{service.id}"
    call = {
        "post": {
            "summary": f"Call the {service.hook} hook: {service.title}",
            "requestBody": {"required": True, "content": {JSON: {"schema": hook_request(service.hook, policies)}}},
            "responses": {
                "200": {"description": "Cards and system actions", "content": {JSON: {"schema": _ref("HookResponse")}}},
                **errors,
                "412": _outcome("Prefetch is missing and there is no fhirServer to fetch it from"),
            },
        }
    }
    feedback = {
        "post": {
            "summary": f"Report what the clinician did with the cards of {service.id}",
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("Feedback")}}},
            "responses": {
                "200": {
                    "description": "Stored",
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "required": ["received", "stored"],
                                "properties": {"received": {"type": "integer"}, "stored": {"type": "integer"}},
                            }
                        }
                    },
                },
                **errors,
                "503": _outcome("Feedback could not be stored; retry later"),
            },
        }
    }
    return {base: call, f"{base}/feedback": feedback}


def _questionnaire_paths() -> dict[str, Any]:
    """The generated Questionnaires: read by id and search by canonical url (FHIR JSON)."""
    fhir = "application/fhir+json"
    questionnaire = {
        "type": "object",
        "required": ["resourceType", "id", "url", "status", "item"],
        "properties": {"resourceType": {"const": "Questionnaire"}},
    }
    not_found = {
        "description": "No such Questionnaire",
        "content": {fhir: {"schema": _ref("OperationOutcome")}, JSON: {"schema": _ref("OperationOutcome")}},
    }
    searchset = {
        "type": "object",
        "required": ["resourceType", "type", "total", "entry"],
        "properties": {
            "resourceType": {"const": "Bundle"},
            "type": {"const": "searchset"},
            "total": {"type": "integer"},
            "entry": {"type": "array", "items": {"type": "object", "properties": {"resource": questionnaire}}},
        },
    }
    return {
        "/fhir/Questionnaire/{id}": {
            "get": {
                "summary": "One policy-and-phase Questionnaire of the attestable criteria",
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": f"^{FHIR_ID.pattern}$"},
                    }
                ],
                "responses": {
                    "200": {"description": "The Questionnaire", "content": {fhir: {"schema": questionnaire}}},
                    "404": not_found,
                },
            }
        },
        "/fhir/Questionnaire": {
            "get": {
                "summary": "Search the Questionnaires by canonical url (url or url|version); all without one",
                "parameters": [{"name": "url", "in": "query", "required": False, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "A searchset Bundle", "content": {fhir: {"schema": searchset}}}},
            }
        },
    }
