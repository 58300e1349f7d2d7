package crossbar_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/crossbar-rtc/crossbar"
)

// An OpenTok server SDK drives Crossbar once its API URL is the one of
// Handler's prefix (here http://127.0.0.1:port/crossbar). This is the
// request its createSession makes.
func ExampleServer_RESTHandler() {
	const key, secret = "12345678", "a-secret-of-at-least-16-bytes"
	srv, err := crossbar.New(crossbar.Config{
		APIKey: key, APISecret: secret,
		// Session-monitoring callbacks go to the app's own server.
		Webhook: crossbar.WebhookConfig{URL: "http://127.0.0.1:9/opentok/events", Secret: "another-secret"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	mux := http.NewServeMux()
	mux.Handle("/crossbar/", srv.Handler())
	hs := httptest.NewServer(mux)
	defer hs.Close()
	apiURL := hs.URL + "/crossbar"

	// The SDK's REST authentication: a JWT for the project, valid 3 minutes.
	now := time.Now()
	auth, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": key, "ist": "project", "iat": now.Unix(), "exp": now.Add(3 * time.Minute).Unix(),
	}).SignedString([]byte(secret))
	form := url.Values{"p2p.preference": {"disabled"}} // routed
	req, _ := http.NewRequest("POST", apiURL+"/session/create", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-OPENTOK-AUTH", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var created []struct {
		SessionID string `json:"session_id"`
	}
	if err := json.Unmarshal(body, &created); err != nil {
		log.Fatal(err)
	}
	s, err := srv.Session(req.Context(), created[0].SessionID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status, s.MediaMode())
	// Output: 200 OK routed
}
