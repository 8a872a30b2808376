//! The ROCA fingerprint (CVE-2017-15361; Nemec et al., "The Return of Coppersmith's Attack", CCS 2017): RSA
//! keys made by an Infineon library whose primes have the form `k·M + (65537^a mod M)`, so that their
//! private key can be computed from the public modulus. Such a modulus is, modulo each small prime `p`
//! below, a power of 65537; a random modulus is so for all of them with probability about 2^-154. The test
//! is the one the paper's authors published: reduce `n` by each prime and look it up in the subgroup that
//! 65537 generates.

const PRIMES: [u16; 38] = [
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109,
    113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
];
const GENERATOR: u32 = 65537;

/// Whether the big-endian modulus `n` has the fingerprint.
pub fn fingerprinted(n: &[u8]) -> bool {
    PRIMES.iter().all(|&p| {
        let p = u32::from(p);
        let residue = n.iter().fold(0u32, |r, &b| (r * 256 + u32::from(b)) % p);
        in_subgroup(residue, p)
    })
}

/// Whether `residue` is a power of 65537 modulo the prime `p`.
fn in_subgroup(residue: u32, p: u32) -> bool {
    let g = GENERATOR % p;
    let mut power = 1 % p;
    for _ in 0..p {
        if power == residue {
            return true;
        }
        power = power * g % p;
    }
    false
}
