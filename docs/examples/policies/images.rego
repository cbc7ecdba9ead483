# Every container runs a pinned image: no `:latest`, and a tag or a digest on every image.
package shipmate.images

import rego.v1

# The containers of a workload's pod template, and of a CronJob's.
containers_of(r) := array.concat(
	object.get(r.attributes, ["spec", "template", "spec", "containers"], []),
	object.get(r.attributes, ["spec", "jobTemplate", "spec", "template", "spec", "containers"], []),
)

# The image's last path segment: `registry:5000/team/app:1.2` -> `app:1.2`.
name(image) := segment if {
	parts := split(image, "/")
	segment := parts[count(parts) - 1]
}

deny contains msg if {
	some r in input.resources
	r.type == "Kubernetes"
	some c in containers_of(r)
	endswith(c.image, ":latest")
	msg := sprintf("%s: container %s runs %s; pin a version instead of :latest", [r.id, c.name, c.image])
}

deny contains msg if {
	some r in input.resources
	r.type == "Kubernetes"
	some c in containers_of(r)
	not contains(name(c.image), ":")
	not contains(c.image, "@")
	msg := sprintf("%s: container %s runs %s without a tag; pin a version", [r.id, c.name, c.image])
}
