"""An independent SAML service provider (pysaml2) for the SSO integration tests (issue 20).

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


if __name__ == "__main__":
    mode, raw = sys.argv[1], sys.argv[2]
    modes = {
        "request": request,
        "response": response,
        "unsolicited": lambda args: response(args, unsolicited=True),
    }
    out = modes[mode](json.loads(raw))
    print(json.dumps(out))
