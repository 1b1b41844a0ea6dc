package benchmarks

import (
	"embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// templatesFS holds the payload shapes the generator starts from. Most are
// the webhook payloads of stages/github/testdata, compacted (go:embed cannot
// reach outside this folder, and the bench command must not depend on the
// source tree); fork, workflow_run, check_run, pull_request_review and
// status were written by hand after GitHub's documented webhook payloads, with
// "$name" strings where the generator puts shared objects (the repository,
// the sender...). See templates/README.md.
//
//go:embed templates/*.json
var templatesFS embed.FS

// EventWeights is the event-type mix of a generated corpus, in percent.
//
// It approximates the share of event types in the public GitHub event
// stream as GH Archive records it (the Events API): pushes are about half of
// all events, then branch and tag creation, pull requests, stars, issue
// comments, deletions, reviews, issues, forks and releases. Those shares are
// an approximation from public GH Archive summaries, rounded, not a
// measurement of this project. The public stream does not carry the CI
// events a webhook receives (workflow_run, check_run, status), which are a
// large share of an organisation's real webhook traffic; they are given an
// assumed 12% here, taken from the others. Read-only: change it, if at all,
// before generating a corpus. GitHub sends both
// "watch" and "star" for a star; the Events API shows only WatchEvent.
var EventWeights = map[string]int{
	"push":                50,
	"create":              10,
	"pull_request":        6,
	"watch":               4,
	"star":                2,
	"issue_comment":       5,
	"delete":              3,
	"issues":              3,
	"pull_request_review": 2,
	"fork":                2,
	"release":             1,
	"check_run":           5,
	"workflow_run":        3,
	"status":              4,
}

// MaxPayloadBytes caps a generated payload: the tail of the size
// distribution (long pushes, long issue and pull request bodies) ends here.
const MaxPayloadBytes = 60_000

// generator builds realistic webhook payloads: real GitHub shapes (the
// templates) with fresh identities, numbers, titles, bodies, shas and
// timestamps, about a population of repositories and users whose activity
// follows a Zipf law. It is deterministic for a seed.
type generator struct {
	rng   *rand.Rand
	tpl   map[string]*object
	users []*user
	repos []*repo
	zipf  *rand.Zipf
	order []string // event types, sorted, for a deterministic weighted pick
	total int
	start time.Time
	now   time.Time
}

type user struct {
	login, name, email string
	id                 int64
}

type repo struct {
	owner       *user
	org         bool
	name        string
	id          int64
	description string
	language    string
	branch      string // default branch
	created     time.Time
	stars       int64
	forks       int64
	size        int64
	headSHA     string
	hookID      int64
	runNumber   int64
	nextNumber  int64
	open        []*thread // open issues and pull requests
	team        []*user
}

// thread is an issue or a pull request of a repository.
type thread struct {
	number   int64
	id       int64
	title    string
	body     string
	author   *user
	created  time.Time
	comments int64
	pr       bool
	headRef  string
	headSHA  string
}

func newGenerator(seed int64) (*generator, error) {
	g := &generator{
		rng:   rand.New(rand.NewPCG(uint64(seed), 0x6b6f697374726561)),
		tpl:   map[string]*object{},
		start: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC),
	}
	g.now = g.start
	entries, err := templatesFS.ReadDir("templates")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		data, err := templatesFS.ReadFile(path.Join("templates", e.Name()))
		if err != nil {
			return nil, err
		}
		v, err := parseOrdered(data)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", e.Name(), err)
		}
		o, ok := v.(*object)
		if !ok {
			return nil, fmt.Errorf("template %s: not an object", e.Name())
		}
		g.tpl[strings.TrimSuffix(e.Name(), ".json")] = o
	}
	for name := range EventWeights {
		g.order = append(g.order, name)
		g.total += EventWeights[name]
	}
	slices.Sort(g.order)
	g.population()
	return g, nil
}

// population makes the users and repositories events are about.
func (g *generator) population() {
	for i := range 800 {
		g.users = append(g.users, g.newUser(int64(i)))
	}
	for i := range 300 {
		r := &repo{
			name:        g.repoName(),
			id:          700_000_000 + int64(i)*7919 + g.rng.Int64N(7919),
			description: sentence(g.rng, 4+g.rng.IntN(10)),
			language:    pick(g.rng, languages),
			branch:      "main",
			created:     g.start.Add(-time.Duration(30+g.rng.IntN(3000)) * 24 * time.Hour),
			stars:       int64(math.Exp(g.rng.NormFloat64()*2 + 2)),
			size:        100 + g.rng.Int64N(200_000),
			headSHA:     g.sha(),
			hookID:      400_000_000 + g.rng.Int64N(99_999_999),
			runNumber:   1 + g.rng.Int64N(3000),
			nextNumber:  1 + g.rng.Int64N(2000),
		}
		r.forks = r.stars / 8
		if g.rng.IntN(5) == 0 {
			r.branch = "master"
		}
		// About 45% of active repositories belong to organisations, whose
		// payloads also carry an "organization" object.
		if g.rng.IntN(100) < 45 {
			r.org = true
			r.owner = g.newOrg(int64(i))
		} else {
			r.owner = g.users[g.rng.IntN(len(g.users))]
		}
		for range 1 + g.rng.IntN(8) {
			r.team = append(r.team, g.users[g.rng.IntN(len(g.users))])
		}
		g.repos = append(g.repos, r)
	}
	g.zipf = rand.NewZipf(g.rng, 1.1, 1, uint64(len(g.repos)-1))
}

func (g *generator) newUser(i int64) *user {
	first, last := pick(g.rng, firstNames), pick(g.rng, lastNames)
	login := strings.ToLower(first[:1]+"-"+asciiOnly(last)) + strconv.Itoa(int(i%97))
	if g.rng.IntN(3) == 0 {
		login = strings.ToLower(asciiOnly(first)) + "-" + pick(g.rng, words)
	}
	return &user{
		login: login,
		name:  first + " " + last,
		email: strings.ToLower(asciiOnly(first)) + "@" + pick(g.rng, []string{"example.org", "example.com", "users.noreply.github.com"}),
		id:    1_000_000 + i*104_729 + g.rng.Int64N(104_729),
	}
}

func (g *generator) newOrg(i int64) *user {
	name := pick(g.rng, words) + "-" + pick(g.rng, orgSuffixes)
	return &user{login: name, name: name, email: "ops@" + name + ".example.org", id: 60_000_000 + i*3571}
}

func (g *generator) repoName() string {
	n := pick(g.rng, words)
	if g.rng.IntN(2) == 0 {
		n += "-" + pick(g.rng, words)
	}
	return n
}

// next builds the next payload of the stream: its event type and body.
func (g *generator) next() (event string, body []byte, r *repo, err error) {
	g.now = g.now.Add(time.Duration(500+g.rng.IntN(4000)) * time.Millisecond)
	x := g.rng.IntN(g.total)
	for _, name := range g.order {
		if x -= EventWeights[name]; x < 0 {
			event = name
			break
		}
	}
	r = g.repos[g.zipf.Uint64()]
	sender := r.team[g.rng.IntN(len(r.team))]
	if event == "watch" || event == "star" || event == "fork" {
		sender = g.users[g.rng.IntN(len(g.users))]
	}
	var p *object
	switch event {
	case "push":
		p = g.push(r, sender)
	case "create", "delete":
		p = g.ref(event, r, sender)
	case "watch":
		p = g.fromTemplate("watch.started", r, sender)
	case "star":
		p = g.fromTemplate("star.created", r, sender)
		p.set("starred_at", ts(g.now))
		r.stars++
	case "issues":
		p = g.issues(r, sender)
	case "issue_comment":
		p = g.issueComment(r, sender)
	case "pull_request":
		p = g.pullRequest(r, sender)
	case "pull_request_review":
		p = g.review(r, sender)
	case "fork":
		p = g.fork(r, sender)
	case "release":
		p = g.release(r, sender)
	case "check_run":
		p = g.checkRun(r, sender)
	case "workflow_run":
		p = g.workflowRun(r, sender)
	case "status":
		p = g.status(r, sender)
	default:
		return "", nil, nil, fmt.Errorf("no generator for event %q", event)
	}
	body = appendJSON(nil, p)
	for len(body) > MaxPayloadBytes {
		if !shrink(p) {
			return "", nil, nil, fmt.Errorf("generated %s payload of %d bytes cannot be shrunk", event, len(body))
		}
		body = appendJSON(body[:0], p)
	}
	return event, body, r, nil
}

// shrink makes p smaller: fewer commits, or shorter bodies.
func shrink(p *object) bool {
	if cs, ok := p.get("commits").([]any); ok && len(cs) > 1 {
		p.set("commits", cs[:len(cs)*3/4])
		return true
	}
	done := false
	walkObjects(p, func(o *object) {
		if s, ok := o.get("body").(string); ok && len(s) > 200 {
			o.set("body", s[:len(s)*2/3])
			done = true
		}
	})
	return done
}

func walkObjects(v any, f func(*object)) {
	switch t := v.(type) {
	case *object:
		f(t)
		for _, x := range t.vals {
			walkObjects(x, f)
		}
	case []any:
		for _, x := range t {
			walkObjects(x, f)
		}
	}
}

// fromTemplate clones the named template with the repository, its owner
// and the sender put in place of the template's koi-garden/pond-sensor,
// nadia-koi and the other fictional accounts, and fills the "$name"
// placeholders.
func (g *generator) fromTemplate(name string, r *repo, sender *user) *object {
	rep := g.replacer(r, sender)
	p := walkStrings(clone(g.tpl[name]), rep.Replace).(*object)
	g.fill(p, r, sender, rep)
	if !r.org {
		p.del("organization")
	}
	return p
}

// replacer maps the templates' fictional accounts to r, its owner, sender
// and another member of r's team.
func (g *generator) replacer(r *repo, sender *user) *strings.Replacer {
	other := r.team[g.rng.IntN(len(r.team))]
	return strings.NewReplacer(
		"koi-garden/pond-sensor", r.owner.login+"/"+r.name,
		"koi-garden", r.owner.login,
		"pond-sensor", r.name,
		"nadia-koi", sender.login,
		"Nadia Koivisto", sender.name,
		"nadia@", strings.SplitN(sender.email, "@", 2)[0]+"@",
		"tomasz-w", other.login,
		"Tomasz Wiśniewski", other.name,
		"carp-diem", g.users[g.rng.IntN(len(g.users))].login,
	)
}

// fill resolves "$name" placeholders anywhere in v and refreshes the
// repository and sender objects.
func (g *generator) fill(v any, r *repo, sender *user, rep *strings.Replacer) {
	walkObjects(v, func(o *object) {
		for i, x := range o.vals {
			s, ok := x.(string)
			if !ok || !strings.HasPrefix(s, "$") {
				continue
			}
			switch s {
			case "$repository":
				o.vals[i] = g.repository("create.tag", r, rep)
			case "$repo_minimal":
				o.vals[i] = g.minimalRepository(r, rep)
			case "$organization":
				o.vals[i] = walkStrings(clone(g.tpl["create.tag"].get("organization")), rep.Replace)
			case "$sender":
				o.vals[i] = g.userObject(sender)
			case "$web_flow":
				o.vals[i] = g.userObject(&user{login: "web-flow", id: 19864447})
			case "$app":
				o.vals[i] = clone(g.tpl["app"])
			case "$pull_request":
				o.vals[i] = nil // the review generator sets it
			case "$forkee":
				o.vals[i] = g.forkee(r, sender)
			}
		}
	})
	switch o := v.(type) {
	case *object:
		if rp := o.obj("repository"); rp != nil {
			g.refreshRepository(rp, r)
		}
		if s := o.obj("sender"); s != nil {
			s.set("id", num(sender.id))
			s.set("avatar_url", avatar(sender.id))
		}
		if org := o.obj("organization"); org != nil {
			org.set("id", num(r.owner.id))
			org.set("avatar_url", avatar(r.owner.id))
		}
	}
}

// repository returns the repository object of template name, for r.
func (g *generator) repository(name string, r *repo, rep *strings.Replacer) *object {
	rp := walkStrings(clone(g.tpl[name].get("repository")), rep.Replace).(*object)
	g.refreshRepository(rp, r)
	return rp
}

// refreshRepository puts r's current numbers into a repository object.
func (g *generator) refreshRepository(rp *object, r *repo) {
	rp.set("id", num(r.id))
	rp.set("description", r.description)
	rp.set("language", r.language)
	rp.set("default_branch", r.branch)
	rp.setIfPresent("master_branch", r.branch)
	rp.set("size", num(r.size))
	rp.set("stargazers_count", num(r.stars))
	rp.set("watchers_count", num(r.stars))
	rp.setIfPresent("watchers", num(r.stars))
	rp.setIfPresent("stargazers", num(r.stars))
	rp.set("forks_count", num(r.forks))
	rp.setIfPresent("forks", num(r.forks))
	open := int64(len(r.open))
	rp.set("open_issues_count", num(open))
	rp.setIfPresent("open_issues", num(open))
	if _, unix := rp.get("created_at").(json.Number); unix {
		// Push payloads carry created_at and pushed_at as Unix seconds.
		rp.set("created_at", num(r.created.Unix()))
		rp.set("pushed_at", num(g.now.Unix()))
	} else {
		rp.set("created_at", ts(r.created))
		rp.set("pushed_at", ts(g.now.Add(-time.Duration(g.rng.IntN(3600))*time.Second)))
	}
	rp.set("updated_at", ts(g.now.Add(-time.Duration(g.rng.IntN(600))*time.Second)))
	if owner := rp.obj("owner"); owner != nil {
		owner.set("id", num(r.owner.id))
		owner.set("avatar_url", avatar(r.owner.id))
		if !r.org {
			owner.set("type", "User")
		}
	}
}

// minimalRepository is the short repository shape of workflow_run payloads:
// identity and API URLs, no counts or timestamps.
func (g *generator) minimalRepository(r *repo, rep *strings.Replacer) *object {
	full := g.repository("create.tag", r, rep)
	m := &object{}
	for i, k := range full.keys {
		switch {
		case k == "id" || k == "node_id" || k == "name" || k == "full_name" || k == "private" ||
			k == "owner" || k == "html_url" || k == "description" || k == "fork" || k == "url" ||
			strings.HasSuffix(k, "_url") && k != "git_url" && k != "ssh_url" && k != "clone_url" && k != "svn_url" && k != "mirror_url":
			m.keys = append(m.keys, k)
			m.vals = append(m.vals, full.vals[i])
		}
	}
	return m
}

func (g *generator) userObject(u *user) *object {
	rep := strings.NewReplacer("nadia-koi", u.login)
	o := walkStrings(clone(g.tpl["create.tag"].get("sender")), rep.Replace).(*object)
	o.set("id", num(u.id))
	o.set("avatar_url", avatar(u.id))
	return o
}

func (g *generator) push(r *repo, sender *user) *object {
	p := g.fromTemplate("push.multiple-commits", r, sender)
	tmplCommit := p.get("commits").([]any)[0].(*object)
	branch := r.branch
	if g.rng.IntN(3) == 0 {
		branch = g.branchName()
	}
	p.set("ref", "refs/heads/"+branch)
	before := r.headSHA
	kind := g.rng.IntN(100)
	n := g.commitCount()
	switch {
	case kind < 6: // branch deleted: no commits
		after := strings.Repeat("0", 40)
		p.set("before", before)
		p.set("after", after)
		p.set("deleted", true)
		p.set("commits", []any{})
		p.set("head_commit", nil)
		p.set("compare", g.compareURL(r, before, after))
		return p
	case kind < 14: // new branch
		before = strings.Repeat("0", 40)
		p.set("created", true)
		n = 1 + g.rng.IntN(3)
	}
	commits := make([]any, n)
	var last *object
	for i := range commits {
		c := clone(tmplCommit).(*object)
		sha := g.sha()
		c.set("id", sha)
		c.set("tree_id", g.sha())
		c.set("message", g.commitMessage())
		c.set("timestamp", ts(g.now.Add(-time.Duration(n-i)*time.Duration(1+g.rng.IntN(900))*time.Second)))
		c.set("url", "https://github.com/"+r.owner.login+"/"+r.name+"/commit/"+sha)
		author := r.team[g.rng.IntN(len(r.team))]
		who := &object{}
		who.set("name", author.name)
		who.set("email", author.email)
		who.set("username", author.login)
		c.set("author", who)
		c.set("committer", clone(who))
		c.set("added", g.paths(0.3))
		c.set("removed", g.paths(0.1))
		c.set("modified", g.paths(0.9))
		commits[i] = c
		last = c
	}
	p.set("before", before)
	p.set("after", last.get("id"))
	p.set("commits", commits)
	p.set("head_commit", clone(last))
	p.set("compare", g.compareURL(r, before, last.get("id").(string)))
	if pusher := p.obj("pusher"); pusher != nil {
		pusher.set("name", sender.login)
		pusher.set("email", sender.email)
	}
	if branch == r.branch {
		r.headSHA = last.get("id").(string)
	}
	r.size += int64(g.rng.IntN(40))
	return p
}

// commitCount draws the number of commits of a push: mostly one, with a
// long tail (GitHub delivers up to 2048; MaxPayloadBytes ends the tail).
func (g *generator) commitCount() int {
	x := g.rng.IntN(1000)
	switch {
	case x < 750:
		return 1
	case x < 870:
		return 2
	case x < 920:
		return 3
	case x < 955:
		return 4 + g.rng.IntN(2)
	case x < 980:
		return 6 + g.rng.IntN(5)
	case x < 993:
		return 11 + g.rng.IntN(10)
	}
	return 21 + g.rng.IntN(60)
}

func (g *generator) compareURL(r *repo, before, after string) string {
	return "https://github.com/" + r.owner.login + "/" + r.name + "/compare/" + before[:12] + "..." + after[:12]
}

func (g *generator) ref(event string, r *repo, sender *user) *object {
	p := g.fromTemplate(event+".tag", r, sender)
	if g.rng.IntN(10) < 7 {
		p.set("ref", g.branchName())
		p.set("ref_type", "branch")
	} else {
		p.set("ref", fmt.Sprintf("v%d.%d.%d", g.rng.IntN(4), g.rng.IntN(20), g.rng.IntN(30)))
		p.set("ref_type", "tag")
	}
	p.setIfPresent("master_branch", r.branch)
	p.setIfPresent("description", r.description)
	return p
}

// thread picks an open issue (pr false) or pull request of r, or opens one.
func (g *generator) thread(r *repo, pr bool, author *user, forceNew bool) (*thread, bool) {
	if !forceNew {
		var candidates []*thread
		for _, t := range r.open {
			if t.pr == pr {
				candidates = append(candidates, t)
			}
		}
		if len(candidates) > 0 {
			return candidates[g.rng.IntN(len(candidates))], false
		}
	}
	t := &thread{
		number:  r.nextNumber,
		id:      2_000_000_000 + g.rng.Int64N(900_000_000),
		title:   capitalize(sentence(g.rng, 3+g.rng.IntN(8))),
		author:  author,
		created: g.now,
		pr:      pr,
		headRef: g.branchName(),
		headSHA: g.sha(),
	}
	median := 500.0
	if pr {
		median = 700
	}
	t.body = g.text(median, 25_000)
	r.nextNumber++
	r.open = append(r.open, t)
	if len(r.open) > 40 {
		r.open = r.open[1:]
	}
	return t, true
}

func (g *generator) close(r *repo, t *thread) {
	for i, x := range r.open {
		if x == t {
			r.open = append(r.open[:i], r.open[i+1:]...)
			return
		}
	}
}

// setThread writes t into an issue or pull_request object: number, title,
// body, author, counts, timestamps and every URL that names the number.
func (g *generator) setThread(o *object, t *thread, state string) {
	walkStrings(o, func(s string) string {
		return threadURL.ReplaceAllString(s, "/${1}/"+strconv.FormatInt(t.number, 10))
	})
	o.set("number", num(t.number))
	o.set("id", num(t.id))
	o.set("title", t.title)
	o.set("body", t.body)
	o.set("user", g.userObject(t.author))
	o.set("state", state)
	o.setIfPresent("comments", num(t.comments))
	o.set("created_at", ts(t.created))
	o.set("updated_at", ts(g.now))
	if state == "closed" {
		o.set("closed_at", ts(g.now))
	} else {
		o.set("closed_at", nil)
	}
	labels, _ := o.get("labels").([]any)
	if len(labels) > 0 {
		o.set("labels", labels[:g.rng.IntN(len(labels)+1)])
	}
}

func (g *generator) issues(r *repo, sender *user) *object {
	p := g.fromTemplate("issues.opened", r, sender)
	action := weighted(g.rng, []string{"opened", "closed", "labeled", "edited", "assigned", "reopened"}, []int{35, 30, 12, 8, 10, 5})
	t, _ := g.thread(r, false, sender, action == "opened")
	state := "open"
	if action == "closed" {
		state = "closed"
		g.close(r, t)
	}
	p.set("action", action)
	g.setThread(p.obj("issue"), t, state)
	if state == "closed" {
		p.obj("issue").set("state_reason", "completed")
	}
	return p
}

func (g *generator) issueComment(r *repo, sender *user) *object {
	onPR := g.rng.IntN(10) < 3
	name := "issue_comment.created"
	if onPR {
		name = "issue_comment.created-on-pull-request"
	}
	p := g.fromTemplate(name, r, sender)
	t, _ := g.thread(r, onPR, r.team[g.rng.IntN(len(r.team))], false)
	t.comments++
	g.setThread(p.obj("issue"), t, "open")
	c := p.obj("comment")
	id := 1_900_000_000 + g.rng.Int64N(900_000_000)
	c.set("id", num(id))
	c.set("body", g.text(250, 12_000))
	c.set("user", g.userObject(sender))
	c.set("created_at", ts(g.now))
	c.set("updated_at", ts(g.now))
	n := strconv.FormatInt(t.number, 10)
	ids := strconv.FormatInt(id, 10)
	base := "https://api.github.com/repos/" + r.owner.login + "/" + r.name
	c.set("url", base+"/issues/comments/"+ids)
	c.set("html_url", "https://github.com/"+r.owner.login+"/"+r.name+"/issues/"+n+"#issuecomment-"+ids)
	c.set("issue_url", base+"/issues/"+n)
	return p
}

// setPullRequest writes t and r's refs and numbers into a pull_request
// object.
func (g *generator) setPullRequest(pr *object, r *repo, t *thread, state string) {
	g.setThread(pr, t, state)
	pr.set("draft", g.rng.IntN(10) == 0)
	for _, side := range []string{"head", "base"} {
		s := pr.obj(side)
		if s == nil {
			continue
		}
		if side == "head" {
			s.set("ref", t.headRef)
			s.set("sha", t.headSHA)
			s.set("label", r.owner.login+":"+t.headRef)
		} else {
			s.set("ref", r.branch)
			s.set("sha", r.headSHA)
			s.set("label", r.owner.login+":"+r.branch)
		}
		if rp := s.obj("repo"); rp != nil {
			g.refreshRepository(rp, r)
		}
		if u := s.obj("user"); u != nil {
			s.set("user", g.userObject(r.owner))
		}
	}
	pr.set("statuses_url", "https://api.github.com/repos/"+r.owner.login+"/"+r.name+"/statuses/"+t.headSHA)
	pr.setIfPresent("commits", num(1+g.rng.Int64N(12)))
	pr.setIfPresent("additions", num(g.rng.Int64N(800)))
	pr.setIfPresent("deletions", num(g.rng.Int64N(300)))
	pr.setIfPresent("changed_files", num(1+g.rng.Int64N(30)))
	pr.setIfPresent("review_comments", num(g.rng.Int64N(10)))
}

func (g *generator) pullRequest(r *repo, sender *user) *object {
	action := weighted(g.rng, []string{"opened", "synchronize", "closed", "review_requested", "labeled", "ready_for_review", "edited", "reopened"},
		[]int{20, 35, 20, 8, 6, 5, 4, 2})
	t, _ := g.thread(r, true, sender, action == "opened")
	if action == "synchronize" {
		t.headSHA = g.sha()
	}
	state := "open"
	if action == "closed" {
		state = "closed"
		g.close(r, t)
	}
	p := g.fromTemplate("pull_request.opened", r, sender)
	pr := p.obj("pull_request")
	g.setPullRequest(pr, r, t, state)
	if state == "closed" && g.rng.IntN(10) < 7 {
		pr.set("merged", true)
		pr.set("merged_at", ts(g.now))
		sha := g.sha()
		pr.set("merge_commit_sha", sha)
		r.headSHA = sha
	}
	p.set("action", action)
	p.set("number", num(t.number))
	return p
}

func (g *generator) review(r *repo, sender *user) *object {
	t, _ := g.thread(r, true, r.team[g.rng.IntN(len(r.team))], false)
	p := g.fromTemplate("pull_request_review.submitted", r, sender)
	pr := walkStrings(clone(g.tpl["pull_request.opened"].get("pull_request")), g.replacer(r, sender).Replace).(*object)
	g.setPullRequest(pr, r, t, "open")
	// The review payload carries the short pull request shape.
	for _, k := range []string{"merged", "mergeable", "rebaseable", "mergeable_state", "merged_by", "comments",
		"review_comments", "maintainer_can_modify", "commits", "additions", "deletions", "changed_files"} {
		pr.del(k)
	}
	p.set("pull_request", pr)
	rv := p.obj("review")
	id := 1_900_000_000 + g.rng.Int64N(900_000_000)
	rv.set("id", num(id))
	rv.set("state", weighted(g.rng, []string{"approved", "commented", "changes_requested"}, []int{50, 35, 15}))
	if g.rng.IntN(10) < 4 {
		rv.set("body", nil)
	} else {
		rv.set("body", g.text(150, 8_000))
	}
	rv.set("commit_id", t.headSHA)
	rv.set("submitted_at", ts(g.now))
	n := strconv.FormatInt(t.number, 10)
	html := "https://github.com/" + r.owner.login + "/" + r.name + "/pull/" + n + "#pullrequestreview-" + strconv.FormatInt(id, 10)
	api := "https://api.github.com/repos/" + r.owner.login + "/" + r.name + "/pulls/" + n
	rv.set("html_url", html)
	rv.set("pull_request_url", api)
	links := &object{}
	h := &object{}
	h.set("href", html)
	a := &object{}
	a.set("href", api)
	links.set("html", h)
	links.set("pull_request", a)
	rv.set("_links", links)
	return p
}

func (g *generator) forkee(r *repo, sender *user) *object {
	rep := strings.NewReplacer("koi-garden/pond-sensor", sender.login+"/"+r.name, "koi-garden", sender.login, "pond-sensor", r.name)
	f := walkStrings(clone(g.tpl["create.tag"].get("repository")), rep.Replace).(*object)
	f.set("id", num(900_000_000+g.rng.Int64N(90_000_000)))
	f.set("fork", true)
	f.set("created_at", ts(g.now))
	f.set("updated_at", ts(g.now))
	f.set("pushed_at", ts(r.created))
	f.set("stargazers_count", num(0))
	f.set("watchers_count", num(0))
	f.set("forks_count", num(0))
	f.set("open_issues_count", num(0))
	f.setIfPresent("forks", num(0))
	f.setIfPresent("open_issues", num(0))
	f.setIfPresent("watchers", num(0))
	f.set("public", true)
	if o := f.obj("owner"); o != nil {
		f.set("owner", g.userObject(sender))
	}
	return f
}

func (g *generator) fork(r *repo, sender *user) *object {
	r.forks++
	return g.fromTemplate("fork", r, sender)
}

func (g *generator) release(r *repo, sender *user) *object {
	p := g.fromTemplate("release.published", r, sender)
	rel := p.obj("release")
	tag := fmt.Sprintf("v%d.%d.%d", g.rng.IntN(4), g.rng.IntN(20), g.rng.IntN(30))
	id := strconv.FormatInt(140_000_000+g.rng.Int64N(90_000_000), 10)
	walkStrings(rel, func(s string) string {
		return releaseURL.ReplaceAllStringFunc(s, func(m string) string {
			if strings.HasPrefix(m, "/releases/") {
				return "/releases/" + id
			}
			return "/" + tag
		})
	})
	rel.set("id", json.Number(id))
	rel.set("tag_name", tag)
	rel.set("name", tag+" "+sentence(g.rng, 2+g.rng.IntN(3)))
	rel.set("body", g.text(1200, 15_000))
	rel.set("created_at", ts(g.now.Add(-2*time.Minute)))
	rel.set("updated_at", ts(g.now))
	rel.set("published_at", ts(g.now))
	rel.set("author", g.userObject(sender))
	return p
}

func (g *generator) checkRun(r *repo, sender *user) *object {
	p := g.fromTemplate("check_run.completed", r, sender)
	cr := p.obj("check_run")
	id := strconv.FormatInt(22_000_000_000+g.rng.Int64N(900_000_000), 10)
	run := strconv.FormatInt(8_000_000_000+g.rng.Int64N(900_000_000), 10)
	walkStrings(cr, func(s string) string {
		return checkRunURL.ReplaceAllStringFunc(s, func(m string) string {
			if strings.HasPrefix(m, "/check-runs/") {
				return "/check-runs/" + id
			}
			return "/runs/" + run + "/job/" + id
		})
	})
	cr.set("id", json.Number(id))
	cr.set("name", pick(g.rng, checkNames))
	cr.set("head_sha", r.headSHA)
	cr.set("external_id", g.uuid())
	started := g.now.Add(-time.Duration(30+g.rng.IntN(600)) * time.Second)
	cr.set("started_at", ts(started))
	out := cr.obj("output")
	if g.rng.IntN(10) < 3 {
		p.set("action", "created")
		cr.set("status", "in_progress")
		cr.set("conclusion", nil)
		cr.set("completed_at", nil)
	} else {
		conclusion := weighted(g.rng, []string{"success", "failure", "skipped", "cancelled"}, []int{80, 12, 6, 2})
		cr.set("conclusion", conclusion)
		cr.set("completed_at", ts(g.now))
		if conclusion == "failure" && out != nil {
			out.set("title", "Process completed with exit code 1.")
			out.set("summary", g.text(400, 3_000))
			out.set("annotations_count", num(1+g.rng.Int64N(5)))
		}
	}
	if cs := cr.obj("check_suite"); cs != nil {
		cs.set("id", num(21_000_000_000+g.rng.Int64N(900_000_000)))
		cs.set("head_sha", r.headSHA)
		cs.set("after", r.headSHA)
		cs.set("head_branch", r.branch)
		cs.set("created_at", ts(started))
		cs.set("updated_at", ts(started))
	}
	return p
}

func (g *generator) workflowRun(r *repo, sender *user) *object {
	p := g.fromTemplate("workflow_run.completed", r, sender)
	wr := p.obj("workflow_run")
	run := strconv.FormatInt(8_000_000_000+g.rng.Int64N(900_000_000), 10)
	walkStrings(wr, func(s string) string { return workflowRunURL.ReplaceAllString(s, "/runs/"+run) })
	wr.set("id", json.Number(run))
	r.runNumber++
	wr.set("run_number", num(r.runNumber))
	wr.set("head_sha", r.headSHA)
	wr.set("head_branch", r.branch)
	msg := g.commitMessage()
	wr.set("display_title", strings.SplitN(msg, "\n", 2)[0])
	wr.set("event", weighted(g.rng, []string{"push", "pull_request", "schedule", "workflow_dispatch"}, []int{55, 35, 5, 5}))
	created := g.now.Add(-time.Duration(30+g.rng.IntN(900)) * time.Second)
	wr.set("created_at", ts(created))
	wr.set("run_started_at", ts(created))
	wr.set("updated_at", ts(g.now))
	switch g.rng.IntN(4) {
	case 0:
		p.set("action", "requested")
		wr.set("status", "queued")
		wr.set("conclusion", nil)
	case 1:
		p.set("action", "in_progress")
		wr.set("status", "in_progress")
		wr.set("conclusion", nil)
	default:
		wr.set("conclusion", weighted(g.rng, []string{"success", "failure", "cancelled"}, []int{82, 14, 4}))
	}
	if hc := wr.obj("head_commit"); hc != nil {
		hc.set("id", r.headSHA)
		hc.set("tree_id", g.sha())
		hc.set("message", msg)
		hc.set("timestamp", ts(created.Add(-10*time.Second)))
	}
	return p
}

func (g *generator) status(r *repo, sender *user) *object {
	p := g.fromTemplate("status", r, sender)
	sha := r.headSHA
	walkStrings(p.obj("commit"), func(s string) string {
		return strings.ReplaceAll(s, "a625406f6977d45c1391b078f4d3656e0b75bfcb", sha)
	})
	p.set("id", num(29_000_000_000+g.rng.Int64N(900_000_000)))
	p.set("sha", sha)
	p.set("context", pick(g.rng, []string{"ci/hardware-in-the-loop", "continuous-integration/jenkins", "codecov/patch", "codecov/project", "security/snyk", "deploy/preview"}))
	state := weighted(g.rng, []string{"success", "pending", "failure", "error"}, []int{55, 35, 8, 2})
	p.set("state", state)
	p.set("description", capitalize(sentence(g.rng, 3+g.rng.IntN(6))))
	p.set("target_url", "https://ci.example.org/"+r.owner.login+"/"+r.name+"/builds/"+strconv.Itoa(g.rng.IntN(90000)))
	p.set("created_at", ts(g.now))
	p.set("updated_at", ts(g.now))
	if c := p.obj("commit"); c != nil {
		c.set("sha", sha)
		if cc := c.obj("commit"); cc != nil {
			cc.set("message", g.commitMessage())
		}
	}
	if bs, ok := p.get("branches").([]any); ok && len(bs) > 0 {
		if b, ok := bs[0].(*object); ok {
			b.set("name", r.branch)
		}
	}
	return p
}

// text returns prose of a log-normally distributed length (the given
// median, capped at max), in paragraphs separated by CRLF as GitHub stores
// issue and pull request bodies.
func (g *generator) text(median, maxLen float64) string {
	n := int(math.Min(maxLen, math.Exp(math.Log(median)+g.rng.NormFloat64()*1.1)))
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			if g.rng.IntN(4) == 0 {
				b.WriteString("\r\n\r\n")
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteString(capitalize(sentence(g.rng, 4+g.rng.IntN(14))))
		b.WriteByte('.')
	}
	return b.String()
}

func (g *generator) commitMessage() string {
	m := capitalize(sentence(g.rng, 3+g.rng.IntN(7)))
	if g.rng.IntN(10) < 2 {
		m += "\n\n" + g.text(200, 2_000)
	}
	return m
}

func (g *generator) branchName() string {
	return pick(g.rng, []string{"feature/", "fix/", "chore/", "dependabot/go_modules/", ""}) + pick(g.rng, words) + "-" + pick(g.rng, words)
}

// paths returns a file list: empty with probability 1-p, else 1-4 paths.
func (g *generator) paths(p float64) []any {
	if g.rng.Float64() >= p {
		return []any{}
	}
	out := make([]any, 1+g.rng.IntN(4))
	for i := range out {
		out[i] = pick(g.rng, dirs) + "/" + pick(g.rng, words) + pick(g.rng, []string{".go", "_test.go", ".py", ".ts", ".md", ".yml"})
	}
	return out
}

func (g *generator) sha() string {
	var b [20]byte
	for i := 0; i < len(b); i += 8 {
		v := g.rng.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return fmt.Sprintf("%x", b)
}

func (g *generator) uuid() string {
	return formatUUID(g.rng.Uint64(), g.rng.Uint64())
}

// formatUUID formats two 64-bit values as a version 4 UUID.
func formatUUID(hi, lo uint64) string {
	hi = hi&^(0xf<<12) | 0x4<<12
	lo = lo&^(0x3<<62) | 0x2<<62
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:8], hi)
	binary.BigEndian.PutUint64(raw[8:], lo)
	var b [36]byte
	hex.Encode(b[0:8], raw[0:4])
	hex.Encode(b[9:13], raw[4:6])
	hex.Encode(b[14:18], raw[6:8])
	hex.Encode(b[19:23], raw[8:10])
	hex.Encode(b[24:36], raw[10:16])
	b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
	return string(b[:])
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func avatar(id int64) string {
	return "https://avatars.githubusercontent.com/u/" + strconv.FormatInt(id, 10) + "?v=4"
}

func pick(rng *rand.Rand, from []string) string { return from[rng.IntN(len(from))] }

func weighted(rng *rand.Rand, names []string, weights []int) string {
	total := 0
	for _, w := range weights {
		total += w
	}
	x := rng.IntN(total)
	for i, w := range weights {
		if x -= w; x < 0 {
			return names[i]
		}
	}
	return names[len(names)-1]
}

func sentence(rng *rand.Rand, n int) string {
	ws := make([]string, n)
	for i := range ws {
		ws[i] = pick(rng, words)
	}
	return strings.Join(ws, " ")
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// asciiOnly drops non-ASCII letters, for logins and e-mail addresses.
func asciiOnly(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x80 {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// URL patterns of the numbers the generator renumbers.
var (
	threadURL      = regexp.MustCompile(`/(issues|pulls|pull)/\d+`)
	releaseURL     = regexp.MustCompile(`/releases/\d+|/v0\.3\.0`)
	checkRunURL    = regexp.MustCompile(`/check-runs/\d+|/runs/\d+/job/\d+`)
	workflowRunURL = regexp.MustCompile(`/runs/\d+`)
)

var (
	words = strings.Fields(`sensor pond koi filter pump water level temperature driver cache stream event
		replay log broker index queue batch retry timeout config parser schema client server handler
		router metric trace span export import build test lint release deploy docs readme update fix
		add remove refactor rename bump upgrade flaky race leak panic error warning check verify sign
		token secret webhook payload header delivery commit branch merge rebase tag version module
		package vendor license api endpoint route page view model store table column key value hash
		node edge graph peer network fetch poll push pull sync async worker pool thread lock mutex
		channel buffer slice map struct field method interface option flag default limit offset cursor
		partition topic consumer producer group session state snapshot checkpoint compaction garbage
		memory disk file folder path upload download archive backup restore migration script shell`)
	firstNames  = []string{"Nadia", "Tomasz", "Ana", "José", "Wei", "Priya", "Kofi", "Lena", "Mateo", "Yuki", "Søren", "Amara", "Oliver", "Fatima", "Ivan", "Chloé", "Arjun", "Mia", "Emre", "Sofia"}
	lastNames   = []string{"Koivisto", "Wiśniewski", "Silva", "García", "Zhang", "Patel", "Mensah", "Müller", "Rossi", "Tanaka", "Jensen", "Okafor", "Smith", "Haddad", "Petrov", "Dubois", "Rao", "Brown", "Yılmaz", "Ünal"}
	orgSuffixes = []string{"labs", "io", "dev", "org", "hq", "systems", "garden", "works", "foundation", "tools"}
	languages   = []string{"Go", "Go", "Python", "Python", "TypeScript", "JavaScript", "Rust", "Java", "C++", "Shell", "Ruby"}
	dirs        = []string{"cmd", "internal", "pkg", "src", "docs", "test", ".github/workflows", "api", "web", "scripts"}
	checkNames  = []string{"build", "lint", "test (ubuntu-latest, stable)", "test (macos-latest, stable)", "test (windows-latest, oldstable)", "CodeQL", "Analyze (go)", "e2e", "docker", "codecov/patch"}
)
