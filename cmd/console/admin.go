package console

import (
	"errors"
	"net/http"
	"strings"
)

type keysData struct {
	Keys    []apiKey
	Created *apiKey // the create response: the only time the key is shown
	Label   string
	Scopes  map[string]bool
	Expires string
	Problem *apiError
	Next    string
}

func (r *request) keysData() (keysData, error) {
	keys, next, err := listPage[apiKey](r, "/api/api-keys")
	return keysData{Keys: keys, Next: next, Scopes: map[string]bool{"events:write": true}}, err
}

func (s *Console) keys(r *request) error {
	d, err := r.keysData()
	if err != nil {
		return r.fail(err)
	}
	return r.render(http.StatusOK, "keys", "keys", "API keys", d)
}

func (s *Console) keyCreate(r *request) error {
	label := strings.TrimSpace(r.FormValue("label"))
	scopes := r.Request().Form["scopes"]
	body := map[string]any{"label": label, "scopes": scopes}
	exp := r.FormValue("expiresAt")
	if exp != "" {
		t, ok := localToRFC3339(exp)
		if !ok {
			t = exp // the API names the problem
		}
		body["expiresAt"] = t
	}
	if scopes == nil {
		body["scopes"] = []string{}
	}
	var created apiKey
	err := r.api.do(r.ctx(), http.MethodPost, "/api/api-keys", body, &created)
	ae := refused(err)
	if err != nil && ae == nil {
		return r.fail(err)
	}
	d, lerr := r.keysData()
	if lerr != nil {
		return r.fail(lerr)
	}
	if err != nil {
		d.Problem, d.Label, d.Expires = ae, label, exp
		d.Scopes = map[string]bool{}
		for _, sc := range scopes {
			d.Scopes[sc] = true
		}
		return r.render(http.StatusUnprocessableEntity, "keys", "keys", "API keys", d)
	}
	// Rendered in this response only (no redirect): the key is never kept
	// by the console and never shown again.
	d.Created = &created
	return r.render(http.StatusCreated, "keys", "keys", "API keys", d)
}

func (s *Console) keyRevoke(r *request) error {
	if err := r.api.do(r.ctx(), http.MethodDelete, "/api/api-keys/"+pathID(r.Param("id")), nil, nil); err != nil {
		return r.fail(err)
	}
	return r.done(Prefix+"/keys", "Key revoked: requests with it are refused within a few seconds.")
}

type usersData struct {
	Users   []user
	Roles   []string
	Email   string
	Role    string
	Problem *apiError
	Next    string
}

func (r *request) usersData() (usersData, error) {
	users, next, err := listPage[user](r, "/api/users")
	d := usersData{Users: users, Next: next, Roles: []string{"viewer", "member", "admin"}, Role: "viewer"}
	if r.atLeast("owner") {
		d.Roles = append(d.Roles, "owner")
	}
	return d, err
}

func (s *Console) users(r *request) error {
	d, err := r.usersData()
	if err != nil {
		return r.fail(err)
	}
	return r.render(http.StatusOK, "users", "users", "Users", d)
}

func (s *Console) userCreate(r *request) error {
	email, role := strings.TrimSpace(r.FormValue("email")), r.FormValue("role")
	err := r.api.do(r.ctx(), http.MethodPost, "/api/users",
		map[string]string{"email": email, "password": r.FormValue("password"), "role": role}, nil)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && ae.Status != http.StatusUnauthorized && ae.Status != http.StatusTooManyRequests {
		d, lerr := r.usersData()
		if lerr != nil {
			return r.fail(lerr)
		}
		d.Problem, d.Email, d.Role = ae, email, role
		return r.render(ae.Status, "users", "users", "Users", d)
	}
	if err != nil {
		return r.fail(err)
	}
	return r.done(Prefix+"/users", "User "+email+" created as "+role+". Give them their password; they sign in here.")
}

// userProblem shows a refused change (own role, last owner, owner role by
// an admin) as a notice on the users page rather than an error page.
func (r *request) userProblem(err error, ok string) error {
	if ae := problemOf(err, http.StatusConflict, http.StatusForbidden, http.StatusUnprocessableEntity); ae != nil {
		return r.done(Prefix+"/users", "Not changed: "+ae.Detail)
	}
	if err != nil {
		return r.fail(err)
	}
	return r.done(Prefix+"/users", ok)
}

func (s *Console) userRole(r *request) error {
	role := r.FormValue("role")
	var u user
	err := r.api.do(r.ctx(), http.MethodPatch, "/api/users/"+pathID(r.Param("id")), map[string]string{"role": role}, &u)
	return r.userProblem(err, "Role changed: "+u.Email+" is now "+u.Role+".")
}

func (s *Console) userRemove(r *request) error {
	err := r.api.do(r.ctx(), http.MethodDelete, "/api/users/"+pathID(r.Param("id")), nil, nil)
	return r.userProblem(err, "User removed.")
}
