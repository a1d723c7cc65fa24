"""The store's schema migrations (Alembic). ``workers.store.migrate`` runs them."""
