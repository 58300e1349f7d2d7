package crossbar_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/crossbar-rtc/crossbar"
)

func ExampleServer_CreateSession() {
	srv, err := crossbar.New(crossbar.Config{APIKey: "12345678", APISecret: "a-secret-of-at-least-16-bytes"})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	s, err := srv.CreateSession(context.Background(), crossbar.SessionOptions{
		MediaMode: crossbar.Routed,
		Metadata:  map[string]string{"room": "standup"},
	})
	if err != nil {
		log.Fatal(err)
	}
	s.OnConnectionCreated(func(c *crossbar.Connection) {
		log.Printf("%s joined %s", c.Data(), s.Metadata()["room"])
	})
	fmt.Println(strings.HasPrefix(s.ID(), "1_"), s.MediaMode())
	// Output: true routed
}

func ExampleServer_GenerateToken() {
	srv, err := crossbar.New(crossbar.Config{APIKey: "12345678", APISecret: "a-secret-of-at-least-16-bytes"})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	s, err := srv.CreateSession(context.Background(), crossbar.SessionOptions{})
	if err != nil {
		log.Fatal(err)
	}

	token, err := srv.GenerateToken(s.ID(), crossbar.TokenOptions{
		Role:       crossbar.RoleSubscriber,
		ExpireTime: time.Now().Add(time.Hour),
		Data:       "name=Ann",
	})
	if err != nil {
		log.Fatal(err)
	}
	info, err := srv.VerifyToken(context.Background(), token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Role, info.Data, info.Role.Can(crossbar.ActionPublish))
	// Output: subscriber name=Ann false
}

func ExampleServer_Handler() {
	srv, err := crossbar.New(crossbar.Config{APIKey: "12345678", APISecret: "a-secret-of-at-least-16-bytes"})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	mux := http.NewServeMux()
	// Browsers and Go clients connect to /crossbar/ws.
	mux.Handle("/crossbar/", srv.Handler())
	// The host's own endpoint hands out tokens to its signed-in users.
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		s, err := srv.Session(r.Context(), r.URL.Query().Get("session"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		token, err := srv.GenerateToken(s.ID(), crossbar.TokenOptions{Data: "user=" + r.URL.Query().Get("user")})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, token)
	})
	_ = mux // http.ListenAndServe(":8080", mux)
}
