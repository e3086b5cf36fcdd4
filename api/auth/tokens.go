package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
)

// MinTokenLength is the shortest token Tokens accepts: shorter ones are
// guessable.
const MinTokenLength = 16

// Tokens authenticates requests by bearer token ("Authorization: Bearer
// TOKEN"). Make one with ParseTokens or LoadTokens. Tokens are kept as
// SHA-256 hashes and looked up by hash, so comparing them leaks nothing
// through timing.
type Tokens struct {
	byHash map[[sha256.Size]byte]*Principal
}

var _ Authenticator = (*Tokens)(nil)

// ParseTokens reads a token file: one token a line, followed by the
// principal's name and, optionally, the groups it belongs to, separated by
// blanks:
//
//	# token                          principal  groups...
//	3q9zPp0cXv1T8mWb5yKd7LrA2sHn     alice      admins
//	Vb6Nk2Qw8Zt4Yc1Rm7Xp5Ls3Jd9Ge    ci         deployers readers
//
// Blank lines and lines starting with '#' are ignored. A token shorter
// than MinTokenLength, a token given twice or a line without a principal
// is an error naming the line.
func ParseTokens(r io.Reader) (*Tokens, error) {
	t := &Tokens{byHash: map[[sha256.Size]byte]*Principal{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("tokens: line %d: want TOKEN PRINCIPAL [GROUP...]", n)
		}
		if len(f[0]) < MinTokenLength {
			return nil, fmt.Errorf("tokens: line %d: token of %s is shorter than %d characters", n, f[1], MinTokenLength)
		}
		h := sha256.Sum256([]byte(f[0]))
		if _, dup := t.byHash[h]; dup {
			return nil, fmt.Errorf("tokens: line %d: token of %s is given twice", n, f[1])
		}
		t.byHash[h] = &Principal{Name: f[1], Groups: f[2:]}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	return t, nil
}

// LoadTokens reads a token file (see ParseTokens).
func LoadTokens(path string) (*Tokens, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	t, err := ParseTokens(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Len returns the number of tokens.
func (t *Tokens) Len() int { return len(t.byHash) }

// Authenticate returns the principal whose token r carries in its
// Authorization header.
func (t *Tokens) Authenticate(r *http.Request) (*Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, fmt.Errorf("%w: no bearer token", ErrUnauthenticated)
	}
	scheme, token, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return nil, fmt.Errorf("%w: the Authorization header must carry a bearer token", ErrUnauthenticated)
	}
	token = strings.TrimSpace(token)
	p, ok := t.byHash[sha256.Sum256([]byte(token))]
	if !ok || token == "" {
		return nil, fmt.Errorf("%w: invalid token", ErrUnauthenticated)
	}
	return &Principal{Name: p.Name, Groups: slices.Clone(p.Groups)}, nil
}
