//! The signing primitives the gateways share: RSA-SHA256 (Alipay RSA2, WeChat v3), MD5 (Epay),
//! HMAC-SHA256 (Stripe), AES-256-GCM (WeChat notify resources), canonical parameter strings and
//! key loading. Failures to verify are [`GatewayError::BadSignature`]; keys that do not load are
//! [`GatewayError::Config`] naming the field.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use openssl::hash::{MessageDigest, hash};
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::rsa::Rsa;
use openssl::sign::{Signer, Verifier};
use openssl::symm::{Cipher, decrypt_aead};

use super::GatewayError;

/// Constant-time equality (lengths are not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a, b)
}

/// `k=v&k=v` over the parameters sorted by key, leaving out the `exclude`d names and empty
/// values. Values are used as given (already URL-decoded).
pub(crate) fn canonical(params: &[(String, String)], exclude: &[&str]) -> String {
    let mut kept: Vec<&(String, String)> = params
        .iter()
        .filter(|(k, v)| !v.is_empty() && !exclude.contains(&k.as_str()))
        .collect();
    kept.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let pairs: Vec<String> = kept.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join("&")
}

/// Lower-case hex MD5.
pub(crate) fn md5_hex(data: &[u8]) -> Result<String, GatewayError> {
    hash(MessageDigest::md5(), data)
        .map(|d| hex::encode(&*d))
        .map_err(|_| GatewayError::Config("md5 unavailable".into()))
}

/// Lower-case hex HMAC-SHA256.
pub(crate) fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> Result<String, GatewayError> {
    let key = PKey::hmac(key).map_err(|_| GatewayError::Config("hmac key".into()))?;
    let mut signer = Signer::new(MessageDigest::sha256(), &key)
        .map_err(|_| GatewayError::Config("hmac unavailable".into()))?;
    signer
        .sign_oneshot_to_vec(data)
        .map(hex::encode)
        .map_err(|_| GatewayError::Config("hmac failed".into()))
}

/// Base64 of the SHA256withRSA (PKCS#1 v1.5) signature of `data`.
pub(crate) fn rsa_sign(key: &PKey<Private>, data: &[u8]) -> Result<String, GatewayError> {
    let mut signer = Signer::new(MessageDigest::sha256(), key)
        .map_err(|_| GatewayError::Config("cannot sign with the private key".into()))?;
    signer
        .sign_oneshot_to_vec(data)
        .map(|sig| B64.encode(sig))
        .map_err(|_| GatewayError::Config("cannot sign with the private key".into()))
}

/// Verifies a base64 SHA256withRSA signature of `data`.
pub(crate) fn rsa_verify(
    key: &PKey<Public>,
    data: &[u8],
    signature_b64: &str,
) -> Result<(), GatewayError> {
    let sig = B64
        .decode(signature_b64.trim())
        .map_err(|_| GatewayError::BadSignature)?;
    let ok = Verifier::new(MessageDigest::sha256(), key)
        .and_then(|mut v| v.verify_oneshot(&sig, data))
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(GatewayError::BadSignature)
    }
}

/// Decrypts AEAD_AES_256_GCM as WeChat Pay uses it: base64 ciphertext whose last 16 bytes are
/// the tag. A wrong key or a tampered byte is [`GatewayError::BadSignature`].
pub(crate) fn aes_256_gcm_open(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    ciphertext_b64: &str,
) -> Result<Vec<u8>, GatewayError> {
    let raw = B64
        .decode(ciphertext_b64.trim())
        .map_err(|_| GatewayError::malformed("resource.ciphertext is not base64"))?;
    if raw.len() < 16 || key.len() != 32 {
        return Err(GatewayError::malformed("resource.ciphertext too short"));
    }
    let (data, tag) = raw.split_at(raw.len() - 16);
    decrypt_aead(Cipher::aes_256_gcm(), key, Some(nonce), aad, data, tag)
        .map_err(|_| GatewayError::BadSignature)
}

/// Random lower-case hex of `bytes` random bytes (nonces).
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // rand_bytes fails only when the system RNG is broken; a zero nonce is then still unique
    // enough per timestamp for the gateways' replay checks.
    let _ = openssl::rand::rand_bytes(&mut buf);
    hex::encode(buf)
}

/// Re-wraps bare base64 (as Alipay's key tool emits) into PEM with `label`.
fn to_pem(text: &str, label: &str) -> String {
    let body: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut pem = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// Loads an RSA private key: PEM PKCS#8 ("PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY"), or the
/// bare base64 of either.
pub(crate) fn load_private_key(text: &str, field: &str) -> Result<PKey<Private>, GatewayError> {
    let bad = || GatewayError::Config(format!("{field} is not an RSA private key in PEM"));
    let text = text.trim();
    let key = if text.starts_with("-----BEGIN") {
        PKey::private_key_from_pem(text.as_bytes()).map_err(|_| bad())?
    } else {
        PKey::private_key_from_pem(to_pem(text, "PRIVATE KEY").as_bytes())
            .or_else(|_| PKey::private_key_from_pem(to_pem(text, "RSA PRIVATE KEY").as_bytes()))
            .map_err(|_| bad())?
    };
    if key.id() != Id::RSA {
        return Err(bad());
    }
    Ok(key)
}

/// Loads an RSA public key: PEM "PUBLIC KEY", "RSA PUBLIC KEY", a "CERTIFICATE" (its key), or
/// the bare base64 of a "PUBLIC KEY".
pub(crate) fn load_public_key(text: &str, field: &str) -> Result<PKey<Public>, GatewayError> {
    let bad = || GatewayError::Config(format!("{field} is not an RSA public key in PEM"));
    let text = text.trim();
    let pem = if text.starts_with("-----BEGIN") {
        text.to_owned()
    } else {
        to_pem(text, "PUBLIC KEY")
    };
    let key = if pem.starts_with("-----BEGIN CERTIFICATE") {
        openssl::x509::X509::from_pem(pem.as_bytes())
            .and_then(|c| c.public_key())
            .map_err(|_| bad())?
    } else if pem.starts_with("-----BEGIN RSA PUBLIC KEY") {
        Rsa::public_key_from_pem_pkcs1(pem.as_bytes())
            .and_then(PKey::from_rsa)
            .map_err(|_| bad())?
    } else {
        PKey::public_key_from_pem(pem.as_bytes()).map_err(|_| bad())?
    };
    if key.id() != Id::RSA {
        return Err(bad());
    }
    Ok(key)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh RSA key pair as (PKCS#8 private PEM, SPKI public PEM).
    pub(crate) fn key_pair() -> (String, String) {
        let rsa = Rsa::generate(2048).unwrap();
        let key = PKey::from_rsa(rsa).unwrap();
        (
            String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap(),
            String::from_utf8(key.public_key_to_pem().unwrap()).unwrap(),
        )
    }

    fn strip_pem(pem: &str) -> String {
        pem.lines().filter(|l| !l.starts_with("-----")).collect()
    }

    #[test]
    fn canonical_sorts_and_drops() {
        let p = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let params = [
            p("b", "2"),
            p("sign", "x"),
            p("a", "1"),
            p("empty", ""),
            p("sign_type", "MD5"),
        ];
        assert_eq!(canonical(&params, &["sign", "sign_type"]), "a=1&b=2");
        assert_eq!(canonical(&params, &["sign"]), "a=1&b=2&sign_type=MD5");
    }

    #[test]
    fn md5_and_hmac_known_vectors() {
        assert_eq!(md5_hex(b"").unwrap(), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            md5_hex(b"The quick brown fox jumps over the lazy dog").unwrap(),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?").unwrap(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn constant_time_eq() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(ct_eq(b"", b""));
    }

    #[test]
    fn rsa_round_trip_tamper_and_wrong_key() {
        let (private, public) = key_pair();
        let (_, other_public) = key_pair();
        let sk = load_private_key(&private, "k").unwrap();
        let pk = load_public_key(&public, "k").unwrap();
        let sig = rsa_sign(&sk, b"hello").unwrap();
        assert_eq!(rsa_verify(&pk, b"hello", &sig), Ok(()));
        assert_eq!(
            rsa_verify(&pk, b"hellO", &sig),
            Err(GatewayError::BadSignature)
        );
        assert_eq!(
            rsa_verify(&pk, b"hello", "!!"),
            Err(GatewayError::BadSignature)
        );
        let mut raw = B64.decode(&sig).unwrap();
        raw[10] ^= 1;
        assert_eq!(
            rsa_verify(&pk, b"hello", &B64.encode(raw)),
            Err(GatewayError::BadSignature)
        );
        let other = load_public_key(&other_public, "k").unwrap();
        assert_eq!(
            rsa_verify(&other, b"hello", &sig),
            Err(GatewayError::BadSignature)
        );
    }

    #[test]
    fn keys_load_in_every_format() {
        let rsa = Rsa::generate(2048).unwrap();
        let pkcs1 = String::from_utf8(rsa.private_key_to_pem().unwrap()).unwrap();
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY"));
        let pkcs1_public = String::from_utf8(rsa.public_key_to_pem_pkcs1().unwrap()).unwrap();
        let key = PKey::from_rsa(rsa).unwrap();
        let pkcs8 = String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap();
        let spki = String::from_utf8(key.public_key_to_pem().unwrap()).unwrap();
        let pk = load_public_key(&spki, "k").unwrap();
        for private in [
            pkcs1.clone(),
            pkcs8.clone(),
            strip_pem(&pkcs1),
            strip_pem(&pkcs8),
        ] {
            let sk = load_private_key(&private, "k").unwrap();
            let sig = rsa_sign(&sk, b"x").unwrap();
            assert_eq!(rsa_verify(&pk, b"x", &sig), Ok(()));
        }
        for public in [spki.clone(), strip_pem(&spki), pkcs1_public] {
            let pk = load_public_key(&public, "k").unwrap();
            let sig = rsa_sign(&load_private_key(&pkcs8, "k").unwrap(), b"y").unwrap();
            assert_eq!(rsa_verify(&pk, b"y", &sig), Ok(()));
        }
    }

    #[test]
    fn bad_keys_are_config_errors_naming_the_field_only() {
        let (private, public) = key_pair();
        for bad in ["", "garbage", &public] {
            let err = load_private_key(bad, "secrets.app_private_key").unwrap_err();
            assert_eq!(
                err,
                GatewayError::Config(
                    "secrets.app_private_key is not an RSA private key in PEM".into()
                )
            );
        }
        for bad in ["", "MIIBgarbage", &private] {
            let err = load_public_key(bad, "secrets.alipay_public_key").unwrap_err();
            assert!(matches!(err, GatewayError::Config(m) if !m.contains("MII")));
        }
        let ec = openssl::ec::EcKey::generate(
            &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap(),
        )
        .unwrap();
        let ec_pem = String::from_utf8(
            PKey::from_ec_key(ec)
                .unwrap()
                .private_key_to_pem_pkcs8()
                .unwrap(),
        )
        .unwrap();
        assert!(load_private_key(&ec_pem, "k").is_err());
    }

    #[test]
    fn aes_gcm_open_and_tamper() {
        let key = [7u8; 32];
        let nonce = b"0123456789ab";
        let aad = b"transaction";
        let mut tag = [0u8; 16];
        let ct = openssl::symm::encrypt_aead(
            Cipher::aes_256_gcm(),
            &key,
            Some(nonce),
            aad,
            b"{\"a\":1}",
            &mut tag,
        )
        .unwrap();
        let mut joined = ct.clone();
        joined.extend_from_slice(&tag);
        let b64 = B64.encode(&joined);
        assert_eq!(
            aes_256_gcm_open(&key, nonce, aad, &b64).unwrap(),
            b"{\"a\":1}"
        );
        assert_eq!(
            aes_256_gcm_open(&[8u8; 32], nonce, aad, &b64),
            Err(GatewayError::BadSignature)
        );
        assert_eq!(
            aes_256_gcm_open(&key, nonce, b"other", &b64),
            Err(GatewayError::BadSignature)
        );
        joined[0] ^= 1;
        assert_eq!(
            aes_256_gcm_open(&key, nonce, aad, &B64.encode(&joined)),
            Err(GatewayError::BadSignature)
        );
        assert!(matches!(
            aes_256_gcm_open(&key, nonce, aad, "AAAA"),
            Err(GatewayError::Malformed(_))
        ));
    }

    #[test]
    fn random_hex_is_random() {
        let a = random_hex(16);
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_hex(16));
    }
}
