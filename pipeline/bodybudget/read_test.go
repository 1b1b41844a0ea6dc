package bodybudget_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/koistream/koistream/pipeline/bodybudget"
)

// TestRead: a body is read whole within its largest size and the budget,
// and each refusal says why, holds what the caller must give back, and
// reads no more of the body than decides it.
func TestRead(t *testing.T) {
	t.Parallel()
	errCut := errors.New("connection reset")
	body := func(n int) string { return strings.Repeat("a", n) }
	for _, tc := range []struct {
		name       string
		budget     int64 // limit; 0 holds nothing
		preheld    int64 // taken by other requests before
		body       io.Reader
		declared   int64
		max        int64
		wantBody   string
		wantHeld   int64 // returned, for the caller to give back
		wantErr    error // ErrOverBudget, or the type of the error
		wantRead   int64 // of a ReadError
		wantUnread int   // bytes left in body (a bytes.Reader)
	}{
		{name: "declared", budget: 100, body: strings.NewReader(body(10)), declared: 10, max: 50, wantBody: body(10), wantHeld: 10},
		{name: "declared empty", budget: 100, body: strings.NewReader(""), declared: 0, max: 50, wantBody: ""},
		{name: "declared, the largest size", budget: 50, body: strings.NewReader(body(50)), declared: 50, max: 50, wantBody: body(50), wantHeld: 50},
		{name: "declared over the largest size", budget: 100, body: bytes.NewReader([]byte(body(51))), declared: 51, max: 50, wantErr: &bodybudget.TooLargeError{}, wantUnread: 51},
		{name: "declared over the budget", budget: 100, preheld: 95, body: bytes.NewReader([]byte(body(10))), declared: 10, max: 50, wantErr: bodybudget.ErrOverBudget, wantUnread: 10},
		{name: "declared, cut short", budget: 100, body: strings.NewReader(body(4)), declared: 10, max: 50, wantHeld: 10, wantErr: &bodybudget.ReadError{}, wantRead: 4},
		{name: "declared, reader fails", budget: 100, body: io.MultiReader(strings.NewReader(body(3)), iotest.ErrReader(errCut)), declared: 10, max: 50, wantHeld: 10, wantErr: errCut, wantRead: 3},
		{name: "chunked", budget: 1 << 20, body: strings.NewReader(body(100)), declared: -1, max: 1 << 20, wantBody: body(100), wantHeld: 64 << 10},
		{name: "chunked, grown", budget: 1 << 20, body: strings.NewReader(body(70 << 10)), declared: -1, max: 1 << 20, wantBody: body(70 << 10), wantHeld: 128 << 10},
		{name: "chunked, the largest size", budget: 1 << 20, body: strings.NewReader(body(100 << 10)), declared: -1, max: 100 << 10, wantBody: body(100 << 10), wantHeld: 100 << 10},
		{name: "chunked over the largest size", budget: 1 << 20, body: bytes.NewReader([]byte(body(100<<10 + 5))), declared: -1, max: 100 << 10, wantHeld: 100 << 10, wantErr: &bodybudget.TooLargeError{}, wantUnread: 4},
		{name: "chunked over the budget at once", budget: 1 << 20, preheld: 1<<20 - 1000, body: bytes.NewReader([]byte(body(10))), declared: -1, max: 1 << 20, wantErr: bodybudget.ErrOverBudget, wantUnread: 10},
		{name: "chunked outgrows the budget", budget: 100 << 10, body: bytes.NewReader([]byte(body(70 << 10))), declared: -1, max: 1 << 20, wantHeld: 64 << 10, wantErr: bodybudget.ErrOverBudget, wantUnread: 6 << 10},
		{name: "chunked, reader fails", budget: 1 << 20, body: io.MultiReader(strings.NewReader(body(7)), iotest.ErrReader(errCut)), declared: -1, max: 1 << 20, wantHeld: 64 << 10, wantErr: errCut, wantRead: 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bodybudget.New(tc.budget)
			if !b.TryAcquire(tc.preheld) {
				t.Fatal("preheld does not fit")
			}
			got, held, err := b.Read(tc.body, tc.declared, tc.max)
			if held != tc.wantHeld {
				t.Errorf("held %d, want %d", held, tc.wantHeld)
			}
			if b.Held() != tc.preheld+held {
				t.Errorf("the budget holds %d, want %d before and %d returned", b.Held(), tc.preheld, held)
			}
			b.Release(held)
			if b.Held() != tc.preheld {
				t.Errorf("the budget holds %d after the release, want %d", b.Held(), tc.preheld)
			}
			if br, ok := tc.body.(*bytes.Reader); ok && br.Len() != tc.wantUnread {
				t.Errorf("%d bytes of the body left unread, want %d", br.Len(), tc.wantUnread)
			}
			switch want := tc.wantErr.(type) {
			case nil:
				if err != nil || string(got) != tc.wantBody {
					t.Fatalf("got %d bytes, %v; want %d bytes", len(got), err, len(tc.wantBody))
				}
			case *bodybudget.TooLargeError:
				tl, ok := errors.AsType[*bodybudget.TooLargeError](err)
				wantDeclared := tc.declared
				if !ok || tl.Max != tc.max || tl.Declared != wantDeclared {
					t.Fatalf("err %v, want a TooLargeError{Max: %d, Declared: %d}", err, tc.max, wantDeclared)
				}
			case *bodybudget.ReadError:
				re, ok := errors.AsType[*bodybudget.ReadError](err)
				if !ok || re.Read != tc.wantRead || re.Declared != tc.declared || !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("err %#v, want a ReadError of %d bytes, declared %d, wrapping io.ErrUnexpectedEOF", err, tc.wantRead, tc.declared)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("err %v, want %v", err, want)
				}
				if re, ok := errors.AsType[*bodybudget.ReadError](err); want != bodybudget.ErrOverBudget && (!ok || re.Read != tc.wantRead) {
					t.Fatalf("err %#v, want a ReadError of %d bytes", err, tc.wantRead)
				}
			}
			if tc.wantErr != nil && got != nil {
				t.Errorf("a refusal returned %d bytes of body", len(got))
			}
		})
	}
}
