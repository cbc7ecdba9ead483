# Terraform resource types are allowlisted per workspace: what prod may create is decided
# here, in review, not in each pull request.
package shipmate.terraform

import rego.v1

allowed := {
	"dev": {"null_resource", "random_password", "random_string", "aws_s3_bucket", "aws_sqs_queue"},
	"prod": {"null_resource", "random_password", "aws_s3_bucket"},
}

deny contains msg if {
	some r in input.resources
	r.type == "Terraform"
	kind := r.extensions.resourceType
	not kind in object.get(allowed, input.workspace, set())
	msg := sprintf("%s: Terraform %s is not allowed in workspace %s", [r.id, kind, input.workspace])
}
