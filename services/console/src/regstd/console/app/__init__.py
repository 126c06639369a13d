"""Page assembly over the services' APIs: what each page shows, from the answers of the APIs."""
