// --help texts. The program calls itself by the name it was started as, so that the
// kubectl plugin (kubectl-serverimage) reads "kubectl serverimage".
import path from 'node:path';
import type { CommandName } from './args.js';

export function programName(argv1: string | undefined): string {
  const base = path.basename(argv1 ?? 'serverimage').replace(/\.(js|ts)$/, '');
  return base === 'kubectl-serverimage' ? 'kubectl serverimage' : 'serverimage';
}

const CLUSTER_FLAGS = `Cluster flags (as kubectl):
  --kubeconfig FILE    kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)
  --context NAME       kubeconfig context (default: the current context)
  -n, --namespace NS   namespace (default: the context's namespace, else "default")`;

const EXIT_CODES = `Exit codes:
  0  done (for --wait and wait: the image is Active)
  1  the API server refused the request (NotFound too), or the image ended in phase Error
  2  bad command line
  3  the wait timed out (the ServerImage goes on; see describe)
  130 interrupted while waiting (the ServerImage goes on)`;

function overview(p: string): string {
  return `${p}: turn a KubeVirt VirtualMachine into bootable containerDisk images in an OCI registry
(OpenStack's "server image create", as a ServerImage resource of serverimage.io/v1alpha1).

Usage:
  ${p} create VM --repository REPO [--wait] [flags]   image a VirtualMachine
  ${p} wait NAME [--timeout D]                         follow an existing ServerImage to Active or Error
  ${p} list [-n NS | -A] [-o wide|json|yaml]           list ServerImages (and the schedule that made each)
  ${p} backups VM [-o json|yaml]                       a VM's images, newest first
  ${p} describe NAME [-o json|yaml]                    phase, conditions, images, events
  ${p} delete NAME [--wait]                            delete (the deletion policy decides about the tags)
  ${p} restore (IMAGE | REFERENCE) --name VM [flags]   a new VirtualMachine from an image
  ${p} help COMMAND                                    flags of a command

${CLUSTER_FLAGS}

${EXIT_CODES}
`;
}

const COMMAND_HELP: Record<CommandName, (p: string) => string> = {
  create: (p) => `Usage: ${p} create VM [flags]

Creates a ServerImage of the VirtualMachine VM through the API server: the operator
snapshots the VM and pushes each disk as a containerDisk image. The API server checks
the request; when it refuses, its message (naming the field) is printed and the exit
code is 1.

Flags:
  --name NAME               ServerImage name (default: VM-yyyymmdd-hhmmss, UTC)
  --image-name TEXT         human image name (Nova's name; default: the ServerImage name)
  --property KEY=VALUE      image property, repeatable (Nova's metadata; manifest annotations)
  --repository REPO         OCI repository, e.g. registry.example.com/vm-images/{vm}; "{vm}" is
                            replaced by the VM name. Default: $SERVERIMAGE_REPOSITORY (same form).
  --tag TAG                 tag of the boot volume image (default: the ServerImage name)
  --credentials SECRET      Secret with registry credentials (dockerconfigjson or basic-auth)
  --ca-secret SECRET        Secret with the registry's CA bundle under the key ca.crt
  --insecure                plain HTTP to the registry (labs only)
  --volume NAME             volume to image, repeatable (default: every snapshottable volume)
  --deletion-policy POLICY  Retain (default) or Delete the tags when the ServerImage is deleted
  --wait                    follow the ServerImage until Active or Error, with progress
  --timeout DURATION        how long --wait waits, e.g. 90s, 30m, 2h (default: 1h)
  -o, --output json|yaml    print the ServerImage (with --wait: as it ended; progress goes to stderr)

${CLUSTER_FLAGS}

${EXIT_CODES}
`,
  wait: (p) => `Usage: ${p} wait NAME [flags]

Follows the ServerImage NAME, made by any means (kubectl apply, a GitOps tool, create
without --wait), until it is Active or Error, with the same progress and exit codes as
create --wait. An image that is already Active or Error is reported at once. A name
that does not exist is the API server's NotFound (exit 1).

Flags:
  --timeout DURATION        how long to wait, e.g. 90s, 30m, 2h (default: 1h)
  -o, --output json|yaml    print the ServerImage as it ended (progress goes to stderr)

${CLUSTER_FLAGS}

${EXIT_CODES}
`,
  list: (p) => `Usage: ${p} list [flags]

Flags:
  -A, --all-namespaces      list in every namespace
  -o, --output wide|json|yaml

${CLUSTER_FLAGS}
`,
  backups: (p) => `Usage: ${p} backups VM [flags]

Lists the ServerImages of the VirtualMachine VM, newest first: the backups its
ServerImageSchedules made (by due time) and any made by hand (by creation time), with
the schedule, backup type, phase and pushed image of each.

Flags:
  -o, --output json|yaml    print the objects instead

${CLUSTER_FLAGS}
`,
  describe: (p) => `Usage: ${p} describe NAME [flags]

Shows the phase, progress, conditions, pushed images, snapshot indications and the
recent Events of a ServerImage.

Flags:
  -o, --output json|yaml    print the object instead

${CLUSTER_FLAGS}
`,
  delete: (p) => `Usage: ${p} delete NAME [flags]

Deletes a ServerImage. Its deletionPolicy decides whether the pushed tags are deleted
from the registry (Delete) or kept (Retain).

Flags:
  --wait                    wait until the operator has finished and the object is gone
  --timeout DURATION        how long --wait waits (default: 1h)

${CLUSTER_FLAGS}

${EXIT_CODES}
`,
  restore: (p) => `Usage: ${p} restore (SERVERIMAGE | REGISTRY_REFERENCE) --name NEW_VM [flags]

Makes a new VirtualMachine NEW_VM in -n NAMESPACE from an image: its definition as it was
imaged (stored in the registry beside the boot image), its disks from the registry by
digest. SERVERIMAGE is an Active ServerImage (its registry credentials and CA are copied
for CDI); REGISTRY_REFERENCE is host/repository:tag or @sha256:... of a boot image, from
any cluster, read with --credentials / --ca-secret / --insecure. A bad reference (no such
tag, no VM definition, credentials refused) is one line and exit 1; nothing is created.

Flags:
  --name NEW_VM             name of the new VirtualMachine (required)
  --from-namespace NS       namespace of the ServerImage (default: -n)
  --as datavolume|containerdisk
                            datavolume (default): dataVolumeTemplates CDI imports from the
                            registry; containerdisk: an ephemeral VM booting the images
  --storage-class SC        storage class of the DataVolumes (default: the cluster's)
  --new-identity            clear MAC addresses and the firmware UUID (restoring beside the original)
  --run-strategy Halted|Always   (default: as imaged)
  --pull-method pod|node    CDI's pull method (default pod); node pulls through the node's
                            container runtime, with the node's registry credentials and CAs
  --credentials SECRET      (reference only) Secret in -n with registry credentials
                            (dockerconfigjson or basic-auth)
  --ca-secret SECRET        (reference only) Secret in -n with the registry's CA under ca.crt
  --insecure                (reference only) plain HTTP to the registry (labs only)
  -o, --output yaml         print the manifests instead of creating them

${CLUSTER_FLAGS}

${EXIT_CODES}
`,
};

export function helpText(program: string, topic?: CommandName): string {
  return topic ? COMMAND_HELP[topic](program) : overview(program);
}
