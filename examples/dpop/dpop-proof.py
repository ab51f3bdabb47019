#!/usr/bin/env python3
"""Makes DPoP proofs (RFC 9449) with a P-256 key kept in dpop-key.pem (created on first use).

    dpop-proof.py METHOD URL [ACCESS_TOKEN] [NONCE]   prints a proof for one request
    dpop-proof.py --jkt                                prints the key's thumbprint (cnf.jkt)

Needs the `cryptography` package (python3-cryptography). Each call makes a fresh proof (a new
jti, iat = now): a proof is good for one request within a minute.
"""
import base64, hashlib, json, os, sys, time, uuid
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

KEY_FILE = os.environ.get("DPOP_KEY", "dpop-key.pem")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def key():
    if os.path.exists(KEY_FILE):
        with open(KEY_FILE, "rb") as f:
            return serialization.load_pem_private_key(f.read(), None)
    k = ec.generate_private_key(ec.SECP256R1())
    with open(KEY_FILE, "wb") as f:
        f.write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()))
    os.chmod(KEY_FILE, 0o600)
    return k


def jwk(k):
    n = k.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": b64(n.x.to_bytes(32, "big")), "y": b64(n.y.to_bytes(32, "big"))}


def main():
    k = key()
    pub = jwk(k)
    if sys.argv[1:] == ["--jkt"]:
        canonical = json.dumps({m: pub[m] for m in ("crv", "kty", "x", "y")}, separators=(",", ":"))
        print(b64(hashlib.sha256(canonical.encode()).digest()))
        return
    method, url = sys.argv[1], sys.argv[2]
    claims = {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time())}
    if len(sys.argv) > 3 and sys.argv[3]:
        claims["ath"] = b64(hashlib.sha256(sys.argv[3].encode()).digest())
    if len(sys.argv) > 4 and sys.argv[4]:
        claims["nonce"] = sys.argv[4]
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": pub}
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    r, s = decode_dss_signature(k.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    print(signing_input + "." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big")))


if __name__ == "__main__":
    main()
