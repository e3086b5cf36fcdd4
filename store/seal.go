package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/stack"
)

// VarParamPrefix starts the keys of a deployment's parameters that hold
// launch variables ("var/NAME"): their values are sealed at rest like env
// values.
const VarParamPrefix = "var/"

// KeySize is the size of a sealing key: AES-256.
const KeySize = 32

// sealedPrefix starts a sealed value: "sealed:v1:KEYID:BASE64".
const sealedPrefix = "sealed:v1:"

// Keyring holds the keys that seal secrets at rest: the first one seals,
// every one opens, so a rotation puts the new key first and keeps the old
// ones until Store.Reseal has rewritten every value under the new key.
type Keyring struct {
	keys []sealKey
}

type sealKey struct {
	id   string // first 8 bytes of the key's SHA-256, in hex
	aead cipher.AEAD
}

// NewKeyring returns a keyring of AES-256 keys (KeySize bytes each), the
// first being the one that seals.
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, Invalid("keys", "", "at least one key is required")
	}
	k := &Keyring{}
	seen := map[string]bool{}
	for i, raw := range keys {
		if len(raw) != KeySize {
			return nil, Invalid(fmt.Sprintf("keys[%d]", i), fmt.Sprintf("%d bytes", len(raw)), fmt.Sprintf("must be %d bytes", KeySize))
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(raw)
		id := hex.EncodeToString(sum[:8])
		if seen[id] {
			return nil, Invalid(fmt.Sprintf("keys[%d]", i), id, "is given twice")
		}
		seen[id] = true
		k.keys = append(k.keys, sealKey{id: id, aead: aead})
	}
	return k, nil
}

// ParseKeyring reads keys from text: one per line, base64 (standard
// encoding) of KeySize random bytes, as `openssl rand -base64 32` or
// `head -c 32 /dev/urandom | base64` prints them. Blank lines and lines
// starting with # are skipped. The first key seals.
func ParseKeyring(text []byte) (*Keyring, error) {
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(raw) != KeySize {
			return nil, Invalid(fmt.Sprintf("line %d", n), "(key not shown)", fmt.Sprintf("must be the base64 of %d random bytes", KeySize))
		}
		keys = append(keys, raw)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return NewKeyring(keys...)
}

// ReadKeyFile reads a keyring (see ParseKeyring) from a file that only
// its owner may read: a file open to its group or others is refused.
func ReadKeyFile(path string) (*Keyring, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secret key file %s: %w", path,
			Invalid("mode", fi.Mode().Perm().String(), "must not be readable or writable by group or others: chmod 600 "+path))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	k, err := ParseKeyring(b)
	if err != nil {
		return nil, fmt.Errorf("secret key file %s: %w", path, err)
	}
	return k, nil
}

// KeyID names the key that seals: the first 8 bytes of its SHA-256, in
// hex. Sealed values carry it.
func (k *Keyring) KeyID() string { return k.keys[0].id }

// seal encrypts a value under the current key.
func (k *Keyring) seal(plain string) string {
	key := k.keys[0]
	nonce := make([]byte, key.aead.NonceSize())
	_, _ = rand.Read(nonce)
	ct := key.aead.Seal(nonce, nonce, []byte(plain), []byte(key.id))
	return sealedPrefix + key.id + ":" + base64.RawStdEncoding.EncodeToString(ct)
}

// IsSealed reports whether a stored value is sealed.
func IsSealed(v string) bool { return strings.HasPrefix(v, sealedPrefix) }

// open decrypts a sealed value.
func (k *Keyring) open(v string) (string, error) {
	id, body, ok := strings.Cut(strings.TrimPrefix(v, sealedPrefix), ":")
	if !ok {
		return "", errors.New("malformed sealed value")
	}
	if k == nil {
		return "", fmt.Errorf("a value is sealed with key %s, and the store has no keyring (serve --secret-key-file)", id)
	}
	for _, key := range k.keys {
		if key.id != id {
			continue
		}
		ct, err := base64.RawStdEncoding.DecodeString(body)
		if err != nil || len(ct) < key.aead.NonceSize() {
			return "", errors.New("malformed sealed value")
		}
		n := key.aead.NonceSize()
		plain, err := key.aead.Open(nil, ct[:n], ct[n:], []byte(id))
		if err != nil {
			return "", fmt.Errorf("a value sealed with key %s does not open: %w", id, err)
		}
		return string(plain), nil
	}
	return "", fmt.Errorf("a value is sealed with key %s, which the keyring does not hold", id)
}

// current reports whether a stored value is as the keyring would write
// it: sealed with its current key (or plain, without a keyring).
func (k *Keyring) current(v string) bool {
	if k == nil {
		return !IsSealed(v)
	}
	return strings.HasPrefix(v, sealedPrefix+k.keys[0].id+":")
}

// mapEnvs returns deps with fn applied to every env value, copying only
// when some value changes.
func mapEnvs(deps stack.Deps, fn func(string) (string, error)) (stack.Deps, error) {
	var out stack.Deps
	for ti, tier := range deps {
		for si := range tier {
			for vi := range tier[si].Services {
				for ei, kv := range tier[si].Services[vi].Envs {
					name, val, ok := strings.Cut(kv, "=")
					if !ok || val == "" {
						continue
					}
					nv, err := fn(val)
					if err != nil {
						return nil, fmt.Errorf("stack_deps[%d][%d].services[%d].envs[%d] (%s): %w", ti, si, vi, ei, name, err)
					}
					if nv == val {
						continue
					}
					if out == nil {
						out = cloneDeps(deps)
					}
					out[ti][si].Services[vi].Envs[ei] = name + "=" + nv
				}
			}
		}
	}
	if out == nil {
		return deps, nil
	}
	return out, nil
}

// sealDeps seals the env values of deps (a copy when it does).
func (s *Store) sealDeps(deps stack.Deps) (stack.Deps, error) {
	if s.keys == nil {
		return deps, nil
	}
	return mapEnvs(deps, func(v string) (string, error) {
		if IsSealed(v) {
			return "", errors.New("a value must not start with " + sealedPrefix)
		}
		return s.keys.seal(v), nil
	})
}

// openDeps opens the sealed env values of deps read from the driver.
func (s *Store) openDeps(deps stack.Deps) (stack.Deps, error) {
	return mapEnvs(deps, func(v string) (string, error) {
		if !IsSealed(v) {
			return v, nil
		}
		return s.keys.open(v)
	})
}

// sealVersion returns a copy of v as the driver stores it.
func (s *Store) sealVersion(v *product.Version) (*product.Version, error) {
	c := CloneVersion(v)
	var err error
	c.StackDeps, err = s.sealDeps(c.StackDeps)
	return c, err
}

// sealDeployment returns a copy of d as the driver stores it.
func (s *Store) sealDeployment(d *Deployment) (*Deployment, error) {
	c := d.Clone()
	if s.keys == nil {
		return c, nil
	}
	for k, v := range c.Parameters {
		if strings.HasPrefix(k, VarParamPrefix) && v != "" {
			if IsSealed(v) {
				return nil, Invalid("parameters."+k, "(not shown)", "must not start with "+sealedPrefix)
			}
			c.Parameters[k] = s.keys.seal(v)
		}
	}
	return c, nil
}

// openDeployment opens the sealed parameters of d read from the driver.
func (s *Store) openDeployment(d *Deployment) error {
	for k, v := range d.Parameters {
		if IsSealed(v) {
			plain, err := s.keys.open(v)
			if err != nil {
				return fmt.Errorf("parameters.%s: %w", k, err)
			}
			d.Parameters[k] = plain
		}
	}
	return nil
}

// depsCurrent reports whether every env value of deps is stored as the
// keyring would store it now.
func (s *Store) depsCurrent(deps stack.Deps) bool {
	ok := true
	_, _ = mapEnvs(deps, func(v string) (string, error) {
		ok = ok && s.keys.current(v)
		return v, nil
	})
	return ok
}

// Reseal rewrites every sealed value, and every value that should be
// sealed, under the keyring's current key: after a key rotation (the new
// key first in the keyring, the old ones after it), and after a keyring
// is first given to a store that holds plain values. Records keep their
// revisions. It returns how many records it rewrote. Without a keyring
// it fails with ErrInvalid.
func (s *Store) Reseal(ctx context.Context) (int, error) {
	if s.keys == nil {
		return 0, fmt.Errorf("reseal: %w", Invalid("keys", "", "the store has no keyring"))
	}
	n := 0
	for page := 1; ; page++ {
		res, err := s.ListProducts(ctx, ProductQuery{Page: page, PageSize: MaxPageSize})
		if err != nil {
			return n, fmt.Errorf("reseal: %w", err)
		}
		for _, p := range res.Items {
			vs, err := s.d.ListVersions(ctx, p.ID, "")
			if err != nil {
				return n, fmt.Errorf("reseal: versions of %q: %w", p.ID, err)
			}
			for _, v := range vs {
				if s.depsCurrent(v.StackDeps) {
					continue
				}
				err := s.update(ctx, nil, func(tx Tx) error {
					cur, err := tx.Version(ctx, v.ID)
					if err != nil {
						return err
					}
					if cur.StackDeps, err = s.openDeps(cur.StackDeps); err != nil {
						return err
					}
					sealed, err := s.sealVersion(cur)
					if err != nil {
						return err
					}
					return tx.UpdateVersion(ctx, sealed, cur.Revision)
				})
				if err != nil && !errors.Is(err, ErrNotFound) {
					return n, fmt.Errorf("reseal: version %q: %w", v.ID, err)
				}
				n++
			}
		}
		if len(res.Items) < MaxPageSize {
			break
		}
	}
	ts, err := s.d.ListTemplates(ctx)
	if err != nil {
		return n, fmt.Errorf("reseal: templates: %w", err)
	}
	for _, t := range ts {
		if s.depsCurrent(t.StackDeps) {
			continue
		}
		err := s.update(ctx, nil, func(tx Tx) error {
			cur, err := tx.Template(ctx, t.ID)
			if err != nil {
				return err
			}
			if cur.StackDeps, err = s.openDeps(cur.StackDeps); err != nil {
				return err
			}
			if cur.StackDeps, err = s.sealDeps(cur.StackDeps); err != nil {
				return err
			}
			return tx.UpdateTemplate(ctx, cur)
		})
		if err != nil {
			return n, fmt.Errorf("reseal: template %q: %w", t.ID, err)
		}
		n++
	}
	ds, err := s.d.ListDeployments(ctx, DeploymentQuery{})
	if err != nil {
		return n, fmt.Errorf("reseal: deployments: %w", err)
	}
	for _, d := range ds {
		current := true
		for k, v := range d.Parameters {
			if strings.HasPrefix(k, VarParamPrefix) && v != "" && !s.keys.current(v) {
				current = false
			}
		}
		if current {
			continue
		}
		err := s.update(ctx, nil, func(tx Tx) error {
			cur, err := tx.Deployment(ctx, d.Name)
			if err != nil {
				return err
			}
			if err := s.openDeployment(cur); err != nil {
				return err
			}
			sealed, err := s.sealDeployment(cur)
			if err != nil {
				return err
			}
			return tx.UpdateDeployment(ctx, sealed, cur.Revision)
		})
		if err != nil && !errors.Is(err, ErrNotFound) {
			return n, fmt.Errorf("reseal: deployment %q: %w", d.Name, err)
		}
		n++
	}
	return n, nil
}
