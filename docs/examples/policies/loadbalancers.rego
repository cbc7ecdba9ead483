# No public load balancer in production: a Service of type LoadBalancer in the `prod`
# workspace must ask its cloud for an internal one.
package shipmate.network

import rego.v1

internal := {
	"networking.gke.io/load-balancer-type": "Internal",
	"service.beta.kubernetes.io/aws-load-balancer-internal": "true",
	"service.beta.kubernetes.io/azure-load-balancer-internal": "true",
}

is_internal(service) if {
	some key, value in internal
	object.get(service, ["metadata", "annotations", key], "") == value
}

deny contains msg if {
	input.workspace == "prod"
	some r in input.resources
	r.type == "Kubernetes"
	r.attributes.kind == "Service"
	r.attributes.spec.type == "LoadBalancer"
	not is_internal(r.attributes)
	msg := sprintf("%s: a public LoadBalancer in prod; annotate it internal or put it behind the ingress", [r.id])
}
