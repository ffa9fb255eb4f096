"""`lxcprov apply` and `lxcprov export-spec`: the orchestration side.

- load: a document file (or JSON on stdin) read and checked before anything runs;
- observe: what each container is now (read-only), for lxcprov.engine.apply.plan;
- one: one container converged under its lock (what each `apply` worker process runs);
- firstboot: files written through the rootfs jail, first-boot commands run inside;
- many: the whole document: plan, then one worker per container that has changes, in
  parallel (lxcprov.ops.batch), and one report;
- export: the document of the containers that exist.
"""
