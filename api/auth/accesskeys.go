package auth

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// AccessKeys authenticates requests signed as Alibaba Cloud's SDKs sign
// them, for the Service Catalog compatible API: the ACS3-HMAC-SHA256
// Authorization header of current SDKs ([AccessKeys.VerifyACS3]) and the
// HMAC-SHA1 Signature parameter of the RPC style of older ones
// ([AccessKeys.VerifyRPC]). Each access key ID names a secret and the
// principal whose requests it signs.
//
// A request is refused when its key is unknown, its signature does not
// match, its date is further than Options.MaxSkew from the server's clock,
// or its nonce was seen within twice that window (a replay). Make one with
// ParseAccessKeys or LoadAccessKeys; it is safe for concurrent use.
type AccessKeys struct {
	keys map[string]accessKey
	opts AccessKeyOptions

	mu     sync.Mutex
	nonces map[string]time.Time // key ID + "\x00" + nonce -> expiry
	order  []nonceEntry         // the same, oldest first
}

type accessKey struct {
	secret    string
	principal Principal
}

type nonceEntry struct {
	key    string
	expiry time.Time
}

// AccessKeyOptions tune AccessKeys. A nil *AccessKeyOptions, like the
// zero value, means the defaults.
type AccessKeyOptions struct {
	// MaxSkew is how far a request's date may be from the server's
	// clock; zero means 15 minutes, as Alibaba Cloud allows.
	MaxSkew time.Duration
	// MaxNonces bounds the nonces remembered against replays; when that
	// many are younger than twice MaxSkew, requests are refused
	// (Throttling) until some expire. Zero means 1,000,000.
	MaxNonces int
	// Now returns the server's time; nil means time.Now.
	Now func() time.Time
}

// Defaults of AccessKeyOptions.
const (
	DefaultMaxSkew   = 15 * time.Minute
	DefaultMaxNonces = 1_000_000
	// MinSecretLength is the shortest secret ParseAccessKeys accepts.
	MinSecretLength = 16
)

// SignatureError says why a signed request was refused. Code is the
// error code the Service Catalog API answers with and Status its HTTP
// status. It matches ErrUnauthenticated.
type SignatureError struct {
	Status  int
	Code    string
	Message string
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("%s: %s: %s", ErrUnauthenticated, e.Code, e.Message)
}

// Is reports whether target is ErrUnauthenticated.
func (e *SignatureError) Is(target error) bool { return target == ErrUnauthenticated }

func sigError(status int, code, format string, args ...any) *SignatureError {
	return &SignatureError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// ParseAccessKeys reads an access key file: one key a line, its ID, its
// secret, the principal's name and, optionally, the groups it belongs to,
// separated by blanks:
//
//	# access key ID        secret                          principal  groups...
//	LTAI5tStackwaveCI001   3q9zPp0cXv1T8mWb5yKd7LrA2sHn    ci         deployers
//
// Blank lines and lines starting with '#' are ignored. A secret shorter
// than MinSecretLength, an ID given twice or a line without a principal is
// an error naming the line.
func ParseAccessKeys(r io.Reader, opts *AccessKeyOptions) (*AccessKeys, error) {
	k := &AccessKeys{keys: map[string]accessKey{}, nonces: map[string]time.Time{}}
	if opts != nil {
		k.opts = *opts
	}
	if k.opts.MaxSkew <= 0 {
		k.opts.MaxSkew = DefaultMaxSkew
	}
	if k.opts.MaxNonces <= 0 {
		k.opts.MaxNonces = DefaultMaxNonces
	}
	if k.opts.Now == nil {
		k.opts.Now = time.Now
	}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("access keys: line %d: want ACCESS_KEY_ID ACCESS_KEY_SECRET PRINCIPAL [GROUP...]", n)
		}
		if len(f[1]) < MinSecretLength {
			return nil, fmt.Errorf("access keys: line %d: the secret of %s is shorter than %d characters", n, f[0], MinSecretLength)
		}
		if _, dup := k.keys[f[0]]; dup {
			return nil, fmt.Errorf("access keys: line %d: access key %s is given twice", n, f[0])
		}
		k.keys[f[0]] = accessKey{secret: f[1], principal: Principal{Name: f[2], Groups: f[3:]}}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("access keys: %w", err)
	}
	return k, nil
}

// LoadAccessKeys reads an access key file (see ParseAccessKeys). The file
// holds secrets: it must be a regular file that neither its group nor
// others may read or write (chmod 600).
func LoadAccessKeys(path string, opts *AccessKeyOptions) (*AccessKeys, error) {
	b, err := ReadSecretFile(path)
	if err != nil {
		return nil, fmt.Errorf("access keys: %w", err)
	}
	k, err := ParseAccessKeys(bytes.NewReader(b), opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ReadSecretFile reads a file of secrets after checking that it is a
// regular file that no one but its owner may read or write.
func ReadSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s: group or others may access it (mode %04o): it holds secrets, chmod 600 it", path, perm)
	}
	return io.ReadAll(f)
}

// Len returns the number of access keys.
func (k *AccessKeys) Len() int { return len(k.keys) }

// ACS3Algorithm is the signature algorithm of the Authorization header
// VerifyACS3 checks.
const ACS3Algorithm = "ACS3-HMAC-SHA256"

// acs3Headers must be signed by every ACS3 request.
var acs3Headers = []string{"host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce", "x-acs-version"}

// VerifyACS3 checks the ACS3-HMAC-SHA256 signature of r, whose body has
// been read into body, and returns the principal of its access key. The
// headers host, x-acs-action, x-acs-version, x-acs-date,
// x-acs-signature-nonce and x-acs-content-sha256 (the SHA-256 of the body)
// must be signed, and so must every other x-acs- header and Content-Type
// when present, so that nothing that changes the request's meaning
// travels unsigned. Errors are *SignatureError.
func (k *AccessKeys) VerifyACS3(r *http.Request, body []byte) (*Principal, error) {
	alg, rest, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if alg != ACS3Algorithm {
		return nil, sigError(http.StatusBadRequest, "IncompleteSignature", "the Authorization header must use %s", ACS3Algorithm)
	}
	var keyID, signed, signature string
	for part := range strings.SplitSeq(rest, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch name {
		case "Credential":
			keyID = value
		case "SignedHeaders":
			signed = value
		case "Signature":
			signature = value
		}
	}
	if keyID == "" || signed == "" || signature == "" {
		return nil, sigError(http.StatusBadRequest, "IncompleteSignature", "the Authorization header must give Credential, SignedHeaders and Signature")
	}
	key, ok := k.keys[keyID]
	if !ok {
		return nil, sigError(http.StatusNotFound, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
	}
	signedHeaders := strings.Split(signed, ";")
	for _, h := range acs3Headers {
		if !slices.Contains(signedHeaders, h) {
			return nil, sigError(http.StatusBadRequest, "IncompleteSignature", "header %s must be signed", h)
		}
	}
	for name := range r.Header {
		lower := strings.ToLower(name)
		if (strings.HasPrefix(lower, "x-acs-") || lower == "content-type") && !slices.Contains(signedHeaders, lower) {
			return nil, sigError(http.StatusBadRequest, "IncompleteSignature", "header %s must be signed", lower)
		}
	}
	sum := sha256.Sum256(body)
	if !hmac.Equal([]byte(r.Header.Get("x-acs-content-sha256")), []byte(hex.EncodeToString(sum[:]))) {
		return nil, sigError(http.StatusBadRequest, "SignatureDoesNotMatch", "x-acs-content-sha256 is not the SHA-256 of the body")
	}

	// The canonical request, as the SDKs build it.
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, sigError(http.StatusBadRequest, "SignatureDoesNotMatch", "malformed query string")
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range query {
			if !yield(n) {
				return
			}
		}
	})
	var cq strings.Builder
	for i, n := range names {
		if len(query[n]) != 1 {
			return nil, sigError(http.StatusBadRequest, "SignatureDoesNotMatch", "query parameter %s is given more than once", n)
		}
		if i > 0 {
			cq.WriteByte('&')
		}
		cq.WriteString(n + "=" + acsEscape(url.QueryEscape(query[n][0])))
	}
	var ch strings.Builder
	sortedSigned := slices.Sorted(slices.Values(signedHeaders))
	for _, h := range sortedSigned {
		var values []string
		if h == "host" {
			values = []string{r.Host}
		} else {
			values = slices.Clone(r.Header.Values(h))
		}
		for i := range values {
			values[i] = strings.TrimSpace(values[i])
		}
		sort.Strings(values)
		ch.WriteString(h + ":" + strings.Join(values, ",") + "\n")
	}
	canonical := r.Method + "\n" + acsEscape(r.URL.EscapedPath()) + "\n" + cq.String() + "\n" + ch.String() + "\n" +
		strings.Join(sortedSigned, ";") + "\n" + r.Header.Get("x-acs-content-sha256")
	hashed := sha256.Sum256([]byte(canonical))
	mac := hmac.New(sha256.New, []byte(key.secret))
	mac.Write([]byte(ACS3Algorithm + "\n" + hex.EncodeToString(hashed[:])))
	if !hmac.Equal([]byte(signature), []byte(hex.EncodeToString(mac.Sum(nil)))) {
		return nil, sigError(http.StatusBadRequest, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")
	}
	if err := k.fresh(keyID, r.Header.Get("x-acs-date"), r.Header.Get("x-acs-signature-nonce")); err != nil {
		return nil, err
	}
	return key.principal.clone(), nil
}

// VerifyRPC checks the HMAC-SHA1 Signature of an RPC style request: its
// parameters, from the query and a form body together, and its method.
// AccessKeyId, SignatureMethod (HMAC-SHA1), SignatureVersion (1.0),
// SignatureNonce and Timestamp are required. Errors are *SignatureError.
func (k *AccessKeys) VerifyRPC(method string, params url.Values) (*Principal, error) {
	get := func(name string) string {
		if len(params[name]) != 1 {
			return ""
		}
		return params[name][0]
	}
	for _, name := range []string{"AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp"} {
		if get(name) == "" {
			return nil, sigError(http.StatusBadRequest, "MissingParameter", "The input parameter %q that is mandatory for processing this request is not supplied.", name)
		}
	}
	if m := get("SignatureMethod"); m != "HMAC-SHA1" {
		return nil, sigError(http.StatusBadRequest, "InvalidSignatureMethod", "SignatureMethod %q is not supported: use HMAC-SHA1", m)
	}
	if v := get("SignatureVersion"); v != "1.0" {
		return nil, sigError(http.StatusBadRequest, "InvalidSignatureVersion", "SignatureVersion %q is not supported: use 1.0", v)
	}
	keyID := get("AccessKeyId")
	key, ok := k.keys[keyID]
	if !ok {
		return nil, sigError(http.StatusNotFound, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
	}
	signed := url.Values{}
	for name, values := range params {
		if len(values) != 1 {
			return nil, sigError(http.StatusBadRequest, "SignatureDoesNotMatch", "parameter %s is given more than once", name)
		}
		if name != "Signature" {
			signed[name] = values
		}
	}
	toSign := method + "&%2F&" + url.QueryEscape(acsEscape(signed.Encode()))
	mac := hmac.New(sha1.New, []byte(key.secret+"&"))
	mac.Write([]byte(toSign))
	if !hmac.Equal([]byte(get("Signature")), []byte(base64.StdEncoding.EncodeToString(mac.Sum(nil)))) {
		return nil, sigError(http.StatusBadRequest, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")
	}
	if err := k.fresh(keyID, get("Timestamp"), get("SignatureNonce")); err != nil {
		return nil, err
	}
	return key.principal.clone(), nil
}

// acsEscape turns url.QueryEscape's output into the percent-encoding of
// RFC 3986 the signatures use.
func acsEscape(s string) string {
	return strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(s)
}

// fresh checks a signed request's date and records its nonce.
func (k *AccessKeys) fresh(keyID, date, nonce string) error {
	t, err := time.Parse("2006-01-02T15:04:05Z", date)
	if err != nil {
		return sigError(http.StatusBadRequest, "InvalidTimeStamp.Format", "the date %q is not of the form 2006-01-02T15:04:05Z", date)
	}
	now := k.opts.Now()
	if d := now.Sub(t); d > k.opts.MaxSkew || d < -k.opts.MaxSkew {
		return sigError(http.StatusBadRequest, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired: %s is more than %s from the server's clock", date, k.opts.MaxSkew)
	}
	if nonce == "" {
		return sigError(http.StatusBadRequest, "MissingSignatureNonce", "the request carries no signature nonce")
	}
	id := keyID + "\x00" + nonce
	k.mu.Lock()
	defer k.mu.Unlock()
	// Nonces expire in the order they came: drop the old ones first.
	drop := 0
	for drop < len(k.order) && !k.order[drop].expiry.After(now) {
		delete(k.nonces, k.order[drop].key)
		drop++
	}
	k.order = k.order[drop:]
	if exp, seen := k.nonces[id]; seen && exp.After(now) {
		return sigError(http.StatusBadRequest, "SignatureNonceUsed", "Specified signature nonce was used already.")
	}
	if len(k.nonces) >= k.opts.MaxNonces {
		return sigError(http.StatusTooManyRequests, "Throttling.User", "too many signed requests in the last %s; retry later", 2*k.opts.MaxSkew)
	}
	expiry := now.Add(2 * k.opts.MaxSkew)
	k.nonces[id] = expiry
	k.order = append(k.order, nonceEntry{key: id, expiry: expiry})
	return nil
}

func (p Principal) clone() *Principal {
	return &Principal{Name: p.Name, Groups: slices.Clone(p.Groups)}
}
