"""`lxcprov apply`: containers described in a document, converged by a plan.

- fields: the keys a document may hold (one table: the validator, the JSON Schema in
  docs/apply.schema.json and export-spec all read it);
- locate: where a key is in the document's text (file and line for every message);
- document: read, check, merge (defaults, profiles) and expand (name patterns, counts)
  a document into one ContainerSpec per container;
- schema: the JSON Schema of a document, generated from the fields;
- files: a file a document puts into a container, compared with what is there;
- plan: a spec and what a container is now, into actions, each with its reason;
- tomlout: a document written back out as TOML (export-spec).

Everything here is pure: the observations come in from lxcprov.ops.apply.
"""
