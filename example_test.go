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

func ExampleServer_Shutdown() {
	srv, err := crossbar.New(crossbar.Config{APIKey: "12345678", APISecret: "a-secret-of-at-least-16-bytes"})
	if err != nil {
		log.Fatal(err)
	}
	hs := &http.Server{Addr: "127.0.0.1:0", Handler: srv.Handler()}
	// A rolling deploy stops this node with SIGTERM: its clients move to the
	// cluster's other nodes (Config.Cluster), with their media, and then it
	// exits. Without a cluster, Shutdown is Close.
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			log.Print(err) // some clients had not moved
		}
		_ = hs.Shutdown(ctx)
	}
	_ = stop // signal.NotifyContext(ctx, syscall.SIGTERM), then stop()
}
