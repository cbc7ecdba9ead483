# Every container declares CPU and memory limits (the scheduler cannot protect its
# neighbours from one that does not).
package shipmate.limits

import rego.v1

deny contains msg if {
	some r in input.resources
	r.type == "Kubernetes"
	some c in object.get(r.attributes, ["spec", "template", "spec", "containers"], [])
	some kind in ["cpu", "memory"]
	not object.get(c, ["resources", "limits", kind], false)
	msg := sprintf("%s: container %s has no %s limit", [r.id, c.name, kind])
}

warn contains msg if {
	some r in input.resources
	r.type == "Kubernetes"
	some c in object.get(r.attributes, ["spec", "template", "spec", "containers"], [])
	not object.get(c, ["resources", "requests"], false)
	msg := sprintf("%s: container %s requests nothing; the scheduler will guess", [r.id, c.name])
}
