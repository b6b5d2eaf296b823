// SPDX-License-Identifier: Apache-2.0
// The usage text of `meshlet ca`, apart from the command itself so `meshlet --help` prints it without loading the
// certificate library (about 10 MiB of RSS a sidecar that issues nothing does not pay).

/** Usage of `meshlet ca`, also shown by `meshlet --help`. */
export const CA_USAGE = `  meshlet ca init --dir DIR --trust-domain TD [--intermediate] [--key-type ecdsa-p256|rsa-2048] [--ttl 8760h]
                                      Create a CA for trust domain TD in DIR: root.crt/root.key (and an
                                      intermediate.crt/intermediate.key that signs the leaves). Keys are mode 0600.
  meshlet ca issue --dir DIR --spiffe-id ID --out PREFIX [--ttl 24h] [--dns NAME]... [--key-type ...]
                                      Issue a leaf for ID: PREFIX.crt (leaf + intermediate, no root), PREFIX.key.
  meshlet ca webhook --dir DIR --service NAME --namespace NS --out OUTDIR [--ttl 8760h] [--key-type ...]
                                      Issue the injector webhook's serving certificate (DNS NAME.NS.svc and
                                      short forms): OUTDIR/tls.crt, tls.key, ca.crt and ca-bundle-patch.yaml
                                      (sets the webhook's caBundle); prints the caBundle.`;
