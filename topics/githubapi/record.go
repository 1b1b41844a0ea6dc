package githubapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/raw"
)

// SourceKind is the raw.HeaderSource value of github-api records, the key
// the GitHub API parser is registered under.
const SourceKind = "github-api"

// Headers of a github-api raw record, beyond raw's own. See the package
// documentation.
const (
	// HeaderRepo is the repository the response belongs to, "owner/repo"
	// as configured or asked for: Link URLs may name it by id only
	// (/repositories/{id}/...).
	HeaderRepo = "koistream-github-repo"
	// HeaderResource is what was fetched: one of the Resource constants.
	HeaderResource = "koistream-github-resource"
	// HeaderURL is the absolute URL requested.
	HeaderURL = "koistream-github-url"
	// HeaderStatus is the response's HTTP status code, in decimal.
	HeaderStatus = "koistream-github-status"
	// HeaderETag is the response's ETag header, byte for byte (quotes and
	// W/ included), when it had one.
	HeaderETag = "etag"
	// HeaderLastModified is the response's Last-Modified header, when it
	// had one.
	HeaderLastModified = "last-modified"
	// HeaderLink is the response's Link header, when it had one.
	HeaderLink = "link"
)

// What a response holds (HeaderResource).
const (
	// ResourceRepo: GET /repos/{owner}/{repo}, one repository object.
	ResourceRepo = "repo"
	// ResourceIssues: a page of GET /repos/{owner}/{repo}/issues, an
	// array of issues and pull requests (those have a pull_request key).
	ResourceIssues = "issues"
	// ResourceIssue: GET /repos/{owner}/{repo}/issues/{number}, one issue.
	ResourceIssue = "issue"
	// ResourcePulls: a page of GET /repos/{owner}/{repo}/pulls.
	ResourcePulls = "pulls"
	// ResourcePull: GET /repos/{owner}/{repo}/pulls/{number}, one pull
	// request.
	ResourcePull = "pull"
	// ResourceCommits: a page of GET /repos/{owner}/{repo}/commits.
	ResourceCommits = "commits"
	// ResourceCommit: GET /repos/{owner}/{repo}/commits/{sha}, one commit.
	ResourceCommit = "commit"
	// ResourceEvents: a page of GET /repos/{owner}/{repo}/events, the
	// repository's event feed.
	ResourceEvents = "events"
)

// resources lists the Resource constants.
var resources = map[string]bool{
	ResourceRepo: true, ResourceIssues: true, ResourceIssue: true, ResourcePulls: true,
	ResourcePull: true, ResourceCommits: true, ResourceCommit: true, ResourceEvents: true,
}

// ErrInvalid is wrapped by every error NewMessage and Parse return.
var ErrInvalid = errors.New("githubapi: invalid record")

// format is what topics/raw applies to every github-api record: the source
// kind, the default content type, and ErrInvalid around its errors.
var format = raw.Format{Source: SourceKind, Invalid: ErrInvalid, ContentType: "application/json"}

// Input is one github-api raw record.
type Input struct {
	// Repo is "owner/repo". Required.
	Repo string
	// Resource is one of the Resource constants. Required.
	Resource string
	// URL is the absolute http(s) URL requested. Required.
	URL string
	// Status is the response's status code; NewMessage takes only 200.
	Status int
	// ETag, LastModified and Link are the response's headers as received;
	// empty when absent.
	ETag, LastModified, Link string
	// Body is the response body as received. Required.
	Body []byte
	// ContentType is the response's media type.
	ContentType string
	// UserAgent is the User-Agent the request was made with.
	UserAgent string
	// ReceivedAt is when the response arrived. Required.
	ReceivedAt time.Time
	// Key is the record key: set by NewMessage when empty ([Key]), read
	// back by Parse.
	Key string
}

// Key returns the record key of a response: the repository, '@', and the
// hex sha256 of the URL, a zero byte and the body.
func Key(repo, rawURL string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(rawURL))
	h.Write([]byte{0})
	h.Write(body)
	return repo + "@" + hex.EncodeToString(h.Sum(nil))
}

// PartitionKey returns the partition key of a record key: the repository,
// lower-cased as GitHub compares names.
func PartitionKey(key string) string {
	repo, _, _ := strings.Cut(key, "@")
	return strings.ToLower(repo)
}

func (in Input) validate() error {
	owner, name, ok := strings.Cut(in.Repo, "/")
	if !ok || owner == "" || name == "" || strings.ContainsAny(name, "/@") || strings.ContainsAny(owner, "@") {
		return fmt.Errorf("%w: repository %.80q is not owner/repo", ErrInvalid, in.Repo)
	}
	if !resources[in.Resource] {
		return fmt.Errorf("%w: resource %.80q", ErrInvalid, in.Resource)
	}
	u, err := url.Parse(in.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: url %.80q is not an absolute http(s) URL", ErrInvalid, in.URL)
	}
	if in.Status != 200 {
		return fmt.Errorf("%w: status %d; only 200 responses are records", ErrInvalid, in.Status)
	}
	if len(in.Body) == 0 {
		return fmt.Errorf("%w: empty body", ErrInvalid)
	}
	if in.ReceivedAt.IsZero() {
		return fmt.Errorf("%w: no receive time", ErrInvalid)
	}
	return nil
}

// NewMessage returns the raw-topic message of in. It fails, with an error
// wrapping ErrInvalid, when in breaks a rule of the Input fields. The
// message shares in.Body.
func NewMessage(in Input) (*message.Message, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	key := in.Key
	if key == "" {
		key = Key(in.Repo, in.URL, in.Body)
	}
	md := message.Metadata{
		HeaderRepo:                in.Repo,
		HeaderResource:            in.Resource,
		HeaderURL:                 in.URL,
		HeaderStatus:              strconv.Itoa(in.Status),
		topics.HeaderPartitionKey: PartitionKey(key),
	}
	for h, v := range map[string]string{HeaderETag: in.ETag, HeaderLastModified: in.LastModified, HeaderLink: in.Link} {
		if v != "" {
			md[h] = v
		}
	}
	return format.NewMessage(raw.Record{
		Key: key, ReceivedAt: in.ReceivedAt,
		ContentType: in.ContentType, UserAgent: in.UserAgent, Body: in.Body, Metadata: md,
	})
}

// Parse reads a github-api raw record. It fails, with an error wrapping
// ErrInvalid, when the record is of another source kind or breaks a rule of
// the Input fields. The Input shares the record's body.
func Parse(rec raw.Record) (Input, error) {
	if err := format.Check(rec); err != nil {
		return Input{}, err
	}
	md := rec.Metadata
	status, err := strconv.Atoi(md.Get(HeaderStatus))
	if err != nil {
		return Input{}, fmt.Errorf("%w: %s %.20q is not a number", ErrInvalid, HeaderStatus, md.Get(HeaderStatus))
	}
	in := Input{
		Repo:         md.Get(HeaderRepo),
		Resource:     md.Get(HeaderResource),
		URL:          md.Get(HeaderURL),
		Status:       status,
		ETag:         md.Get(HeaderETag),
		LastModified: md.Get(HeaderLastModified),
		Link:         md.Get(HeaderLink),
		Body:         rec.Body,
		ContentType:  rec.ContentType,
		UserAgent:    rec.UserAgent,
		ReceivedAt:   rec.ReceivedAt,
		Key:          rec.Key,
	}
	if err := in.validate(); err != nil {
		return Input{}, err
	}
	return in, nil
}
