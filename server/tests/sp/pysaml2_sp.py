"""An independent SAML service provider (pysaml2) for the SSO and Single Logout
integration tests (issue 20).

    python3 pysaml2_sp.py request  '{"idp_metadata": FILE, "entity_id": .., "acs": .., "binding": "redirect"|"post", "relay_state": ..}'
        -> {"id": request ID, "url": the Redirect URL} or {"id", "destination", "SAMLRequest", "RelayState"}
    python3 pysaml2_sp.py response '{"idp_metadata": FILE, "entity_id": .., "acs": .., "request_id": .., "saml_response": base64}'
        -> {"name_id", "name_id_format", "attributes", "session_index", "issuer", "in_response_to"}
    python3 pysaml2_sp.py unsolicited '{"idp_metadata": FILE, "entity_id": .., "acs": .., "saml_response": base64}'
        -> the same, for an IdP-initiated Response (no request outstanding; the SP configured
           with allow_unsolicited, which the other modes leave off)

The response is checked by pysaml2 itself: the signatures (xmlsec1, with the certificate of
the IdP's metadata), InResponseTo against the outstanding request, Destination, Audience and
the validity times. Any refusal exits non-zero with the reason on stderr.

Single Logout (the SP's key and certificate in `key_file`/`cert_file`, its SLO URL in `slo`):

    python3 pysaml2_sp.py logout_request '{"idp_metadata", "entity_id", "key_file", "cert_file", "slo", "binding": "redirect"|"soap", "name_id", "name_id_format", "session_index", "relay_state"}'
        -> {"id", "url"} (a signed Redirect query) or {"id", "url", "data", "content_type"} (a SOAP envelope, signed LogoutRequest)
    python3 pysaml2_sp.py logout_response '{.., "binding": "redirect"|"soap", "request_id", "query" | "soap"}'
        -> {"status", "in_response_to", "issuer", "signed"}
    python3 pysaml2_sp.py handle_logout_request '{.., "binding": "redirect"|"soap", "query" | "soap", "name_id", "name_id_format", "session_index"}'
        -> {"name_id", "name_id_format", "session_indexes", "issuer", "reason", "logged_in_after",
            "response": {"url"} (a signed Redirect query) or {"data"} (a SOAP envelope)}
"""

import base64
import json
import sys

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS


def client(args, allow_unsolicited=False):
    conf = SPConfig()
    conf.load(
        {
            "entityid": args["entity_id"],
            "metadata": {"local": [args["idp_metadata"]]},
            "service": {
                "sp": {
                    "endpoints": {
                        "assertion_consumer_service": [(args["acs"], BINDING_HTTP_POST)]
                    },
                    "allow_unsolicited": allow_unsolicited,
                    "authn_requests_signed": False,
                    "want_response_signed": True,
                    "want_assertions_signed": True,
                    "name_id_format": NAMEID_FORMAT_EMAILADDRESS,
                }
            },
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "allow_unknown_attributes": True,
        }
    )
    return Saml2Client(config=conf)


def request(args):
    sp = client(args)
    if args["binding"] == "redirect":
        req_id, info = sp.prepare_for_authenticate(
            relay_state=args.get("relay_state", ""), binding=BINDING_HTTP_REDIRECT
        )
        return {"id": req_id, "url": dict(info["headers"])["Location"]}
    (idp,) = sp.metadata.identity_providers()
    destination = sp.metadata.single_sign_on_service(idp, BINDING_HTTP_POST)[0]["location"]
    req_id, req = sp.create_authn_request(destination, binding=BINDING_HTTP_POST)
    xml = req if isinstance(req, str) else str(req)
    return {
        "id": req_id,
        "destination": destination,
        "SAMLRequest": base64.b64encode(xml.encode()).decode(),
        "RelayState": args.get("relay_state", ""),
    }


def response(args, unsolicited=False):
    sp = client(args, allow_unsolicited=unsolicited)
    outstanding = {} if unsolicited else {args["request_id"]: "/"}
    resp = sp.parse_authn_request_response(
        args["saml_response"], BINDING_HTTP_POST, outstanding=outstanding
    )
    if resp is None:
        raise SystemExit("no response")
    info = resp.session_info()
    return {
        "name_id": info["name_id"].text,
        "name_id_format": info["name_id"].format,
        "attributes": resp.ava,
        "session_index": info["session_index"],
        "issuer": info["issuer"],
        "in_response_to": resp.in_response_to,
    }


# --- Single Logout -------------------------------------------------------------------------


def soap_body_as_received(text, expected_tags):
    """The one element of a SOAP envelope's Body, byte for byte as received, with the namespace
    declarations it inherits from the envelope added to its start tag; in place of pysaml2's
    `soap.parse_soap_enveloped_saml_thingy`, which re-serialises the element with ElementTree:
    every prefix becomes ns0, ns1, ... and an exclusive-C14N signature made over other prefixes
    (ours: samlp, saml, ds) no longer verifies (pysaml2 issue #551, open). pysaml2 checks all
    else itself: the signature with xmlsec1 over these bytes, the certificate from metadata,
    the schema, the message."""
    import defusedxml.ElementTree
    from xml.parsers import expat
    from xml.sax.saxutils import quoteattr

    from saml2 import soap

    envelope = defusedxml.ElementTree.fromstring(text)  # refuses DTDs and entities
    body = envelope.find("{%s}Body" % soap.soapenv.NAMESPACE)
    if envelope.tag != "{%s}Envelope" % soap.soapenv.NAMESPACE or body is None or len(body) != 1:
        raise ValueError("not a SOAP envelope with one message in its Body")
    if body[0].tag not in expected_tags:
        raise soap.WrongMessageType(f"Was '{body[0].tag}' expected one of {expected_tags}")
    raw = text.encode() if isinstance(text, str) else text
    found = {"depth": 0, "inherited": {}, "start": None, "end": None}
    parser = expat.ParserCreate()

    def start(name, attrs):
        if found["depth"] < 2:
            found["inherited"].update({k: v for k, v in attrs.items() if k.split(":")[0] == "xmlns"})
        elif found["depth"] == 2 and found["start"] is None:
            found["start"] = parser.CurrentByteIndex
        found["depth"] += 1

    def end(name):
        found["depth"] -= 1
        if found["depth"] == 2 and found["end"] is None:
            found["end"] = raw.index(b">", parser.CurrentByteIndex) + 1

    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.Parse(raw, True)
    message = raw[found["start"] : found["end"]].decode()
    name_end = next(i for i, c in enumerate(message) if c in " \t\r\n/>")
    own = message[: message.index(">")]
    added = "".join(
        f" {k}={quoteattr(v)}" for k, v in found["inherited"].items() if f"{k}=" not in own
    )
    return message[:name_end] + added + message[name_end:]


def slo_client(args):
    """An SP that signs its logout messages (RSA-SHA256) and has an SLO endpoint on every binding."""
    from saml2 import BINDING_SOAP
    from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

    slo = args["slo"]
    conf = SPConfig()
    conf.load(
        {
            "entityid": args["entity_id"],
            "metadata": {"local": [args["idp_metadata"]]},
            "key_file": args["key_file"],
            "cert_file": args["cert_file"],
            "service": {
                "sp": {
                    "endpoints": {
                        "assertion_consumer_service": [(args.get("acs", slo), BINDING_HTTP_POST)],
                        "single_logout_service": [
                            (slo, BINDING_HTTP_REDIRECT),
                            (slo, BINDING_HTTP_POST),
                            (slo, BINDING_SOAP),
                        ],
                    },
                    "logout_requests_signed": True,
                    "logout_responses_signed": True,
                    "signing_algorithm": SIG_RSA_SHA256,
                    "digest_algorithm": DIGEST_SHA256,
                }
            },
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "allow_unknown_attributes": True,
        }
    )
    # pysaml2 decides whether an incoming request must be signed (Redirect: the query; POST
    # and SOAP: the XML) by this IdP-side setting, for SPs too: without it, an unsigned
    # LogoutRequest would be taken.
    conf.setattr("idp", "want_authn_requests_signed", True)
    from saml2 import soap

    soap.parse_soap_enveloped_saml_thingy = soap_body_as_received
    return Saml2Client(config=conf)


def slo_binding(args):
    from saml2 import BINDING_SOAP

    return {"redirect": BINDING_HTTP_REDIRECT, "soap": BINDING_SOAP}[args["binding"]]


def the_idp(sp):
    (idp,) = sp.metadata.identity_providers()
    return idp


def name_id_of(args):
    from saml2.saml import NameID

    return NameID(text=args["name_id"], format=args["name_id_format"])


def query_params(query):
    from urllib.parse import parse_qs

    return {k: v[0] for k, v in parse_qs(query, keep_blank_values=True, strict_parsing=True).items()}


def logout_request(args):
    """The SP signs the user out: a signed LogoutRequest naming the NameID and SessionIndex."""
    from saml2.time_util import in_a_while

    sp, binding = slo_client(args), slo_binding(args)
    idp = the_idp(sp)
    destination = sp.metadata.single_logout_service(idp, binding, "idpsso")[0]["location"]
    req_id, req = sp.create_logout_request(
        destination,
        idp,
        name_id=name_id_of(args),
        reason="urn:oasis:names:tc:SAML:2.0:logout:user",
        expire=in_a_while(minutes=5),
        session_indexes=[args["session_index"]],
        sign=binding != BINDING_HTTP_REDIRECT,
    )
    info = sp.apply_binding(
        binding,
        str(req),
        destination,
        args.get("relay_state", ""),
        sign=binding == BINDING_HTTP_REDIRECT,
    )
    if binding == BINDING_HTTP_REDIRECT:
        return {"id": req_id, "url": dict(info["headers"])["Location"]}
    return {
        "id": req_id,
        "url": info["url"],
        "data": info["data"],
        "content_type": dict(info["headers"])["content-type"],
    }


def verify_redirect(sp, params, issuer):
    """The Redirect query's signature, by pysaml2's own check (`sigver.verify_redirect_signature`)
    with the IdP's certificates from its metadata: pysaml2 7.5.5's parse_logout_request_response
    takes no SigAlg/Signature, so it would not check a Redirect LogoutResponse's signature."""
    from saml2.sigver import verify_redirect_signature

    if "Signature" not in params or "SigAlg" not in params:
        raise SystemExit("the Redirect message is not signed")
    certs = sp.metadata.certs(issuer, "any", "signing")
    if not any(verify_redirect_signature(params, sp.sec.sec_backend, cert) for _, cert in certs):
        raise SystemExit("the Redirect signature does not verify with the IdP's certificates")


def logout_response(args):
    """The SP reads the IdP's answer to its LogoutRequest `request_id`."""
    sp, binding = slo_client(args), slo_binding(args)
    if binding == BINDING_HTTP_REDIRECT:
        params = query_params(args["query"])
        verify_redirect(sp, params, the_idp(sp))
        message = params["SAMLResponse"]
    else:
        message = args["soap"]
    resp = sp.parse_logout_request_response(message, binding)
    if resp is None:
        raise SystemExit("no response")
    # parse_logout_request_response ignores what verify() says (Destination, IssueInstant): ask.
    if not resp.verify():
        raise SystemExit("the LogoutResponse does not verify (Destination or IssueInstant)")
    if resp.in_response_to != args["request_id"]:
        raise SystemExit(f"answers {resp.in_response_to}, not {args['request_id']}")
    return {
        "status": resp.response.status.status_code.value,
        "in_response_to": resp.in_response_to,
        "issuer": resp.issuer(),
        "signed": resp.response.signature is not None,
    }


def handle_logout_request(args):
    """The IdP signs the user out: pysaml2 verifies its LogoutRequest (Redirect: the query's
    signature; SOAP: the enveloped one), logs the user out locally (the session the SSO
    made, put back in its cache first: each call is a new process) and answers, signed."""
    from saml2.time_util import in_a_while

    sp, binding = slo_client(args), slo_binding(args)
    idp = the_idp(sp)
    if binding == BINDING_HTTP_REDIRECT:
        params = query_params(args["query"])
        message = params["SAMLRequest"]
        extra = {
            "relay_state": params.get("RelayState"),
            "sigalg": params.get("SigAlg"),
            "signature": params.get("Signature"),
        }
    else:
        message, extra = args["soap"], {}
    req = sp.parse_logout_request(message, binding, **extra)
    if req is None:
        raise SystemExit("no request")
    seen = req.message
    name_id = name_id_of(args)
    sp.users.add_information_about_person(
        {
            "name_id": name_id,
            "issuer": idp,
            "not_on_or_after": in_a_while(hours=1),
            "ava": {},
            "session_index": args["session_index"],
        }
    )
    info = sp.handle_logout_request(message, name_id, binding, **extra)
    if binding == BINDING_HTTP_REDIRECT:
        response = {"url": dict(info["headers"])["Location"]}
    else:
        response = {"data": info["data"]}
    return {
        "name_id": seen.name_id.text,
        "name_id_format": seen.name_id.format,
        "session_indexes": [i.text for i in seen.session_index],
        "issuer": seen.issuer.text,
        "reason": seen.reason,
        "logged_in_after": sp.is_logged_in(name_id),
        "response": response,
    }


if __name__ == "__main__":
    mode, raw = sys.argv[1], sys.argv[2]
    modes = {
        "request": request,
        "response": response,
        "unsolicited": lambda args: response(args, unsolicited=True),
        "logout_request": logout_request,
        "logout_response": logout_response,
        "handle_logout_request": handle_logout_request,
    }
    out = modes[mode](json.loads(raw))
    print(json.dumps(out))
