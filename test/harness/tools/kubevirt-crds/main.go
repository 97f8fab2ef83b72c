// Command kubevirt-crds prints, as one multi-document YAML stream, the CRDs of the
// KubeVirt, CDI and external-snapshotter releases pinned in ../versions.env, taken from
// the projects' own generators rather than written by us: the test bed applies them so
// that the API server validates every object and status against the real schemas.
//
// build-tools.sh builds it in a wrapper module with the pinned KubeVirt, after copying
// next to this file CDI's generated pkg/operator/resources/crds_generated.go (as package
// cdicrds) and external-snapshotter's config/crd/*.yaml (go:embed cannot read another
// module's files).
//
//	kubevirt-crds        the CRDs the simulator's kinds need
//	kubevirt-crds -all   every CRD of KubeVirt and CDI: virt-controller lists and watches
//	                     them all and does nothing until each informer has synced
//	kubevirt-crds -virt-api NAMESPACE
//	                     not CRDs: what virt-operator's install strategy makes for virt-api
//	                     in NAMESPACE (KubeVirt's PriorityClass, virt-api's RBAC, Service,
//	                     Deployment, APIServices and admission webhook configurations, without
//	                     the CA bundles virt-operator fills in later)
package main

import (
	"embed"
	"flag"
	"fmt"
	"os"
	"sort"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	virtv1 "kubevirt.io/api/core/v1"
	"kubevirt.io/kubevirt/pkg/virt-operator/resource/generate/components"
	"kubevirt.io/kubevirt/pkg/virt-operator/resource/generate/rbac"
	operatorutil "kubevirt.io/kubevirt/pkg/virt-operator/util"
	cdicrds "serverimage.io/testbed/kubevirt-crds/cdicrds"
	"sigs.k8s.io/yaml"
)

//go:embed snapshot-crds/*.yaml
var snapshotCrds embed.FS

// KubeVirt's CRDs that the bed uses; virt-operator installs these (and more) in a cluster.
var kubevirtCrds = []func() (*extv1.CustomResourceDefinition, error){
	components.NewVirtualMachineCrd,
	components.NewVirtualMachineInstanceCrd,
	components.NewVirtualMachineSnapshotCrd,
	components.NewVirtualMachineSnapshotContentCrd,
	components.NewVirtualMachineRestoreCrd,
	components.NewVirtualMachineExportCrd,
	components.NewKubeVirtCrd,
}

// The rest of KubeVirt's CRDs (-all).
var moreKubevirtCrds = []func() (*extv1.CustomResourceDefinition, error){
	components.NewPresetCrd,
	components.NewReplicaSetCrd,
	components.NewVirtualMachineInstanceMigrationCrd,
	components.NewVirtualMachinePoolCrd,
	components.NewVirtualMachineBackupCrd,
	components.NewVirtualMachineBackupTrackerCrd,
	components.NewVirtualMachineInstancetypeCrd,
	components.NewVirtualMachineClusterInstancetypeCrd,
	components.NewVirtualMachinePreferenceCrd,
	components.NewVirtualMachineClusterPreferenceCrd,
	components.NewMigrationPolicyCrd,
	components.NewVirtualMachineCloneCrd,
}

// CDI's generated CRD YAML, by its key in CDICRDs.
var cdiCrds = []string{"datavolume"}

// The VolumeSnapshot CRDs (not the group-snapshot ones): snapshot-controller's API.
var snapshotFiles = []string{
	"snapshot.storage.k8s.io_volumesnapshotclasses.yaml",
	"snapshot.storage.k8s.io_volumesnapshotcontents.yaml",
	"snapshot.storage.k8s.io_volumesnapshots.yaml",
}

func main() {
	all := flag.Bool("all", false, "every CRD of KubeVirt and CDI, not only the simulator's")
	virtAPI := flag.String("virt-api", "", "print virt-operator's virt-api objects for this namespace instead")
	flag.Parse()
	if *virtAPI != "" {
		printDocs(virtAPIObjects(*virtAPI))
		return
	}
	generators := kubevirtCrds
	cdiNames := cdiCrds
	if *all {
		generators = append(append(generators[:0:0], kubevirtCrds...), moreKubevirtCrds...)
		cdiNames = nil
		for name := range cdicrds.CDICRDs {
			cdiNames = append(cdiNames, name)
		}
		sort.Strings(cdiNames)
	}
	var docs [][]byte
	for _, newCrd := range generators {
		crd, err := newCrd()
		if err != nil {
			fail(err)
		}
		docs = append(docs, clean(mustMarshal(crd)))
	}
	for _, name := range cdiNames {
		doc, ok := cdicrds.CDICRDs[name]
		if !ok {
			fail(fmt.Errorf("CDI has no CRD %q", name))
		}
		docs = append(docs, clean([]byte(doc)))
	}
	for _, file := range snapshotFiles {
		doc, err := snapshotCrds.ReadFile("snapshot-crds/" + file)
		if err != nil {
			fail(err)
		}
		docs = append(docs, clean(doc))
	}
	printDocs(docs)
}

func printDocs(docs [][]byte) {
	for _, doc := range docs {
		os.Stdout.WriteString("---\n")
		os.Stdout.Write(doc)
	}
}

// virtAPIObjects: virt-api as virt-operator's install strategy lays it out
// (pkg/virt-operator/resource/generate/install), from the same generators.
func virtAPIObjects(namespace string) [][]byte {
	kv := &virtv1.KubeVirt{ObjectMeta: metav1.ObjectMeta{Name: "kubevirt", Namespace: namespace}}
	config := operatorutil.GetTargetConfigFromKV(kv)
	objects := []any{components.NewKubeVirtPriorityClassCR()}
	for _, o := range rbac.GetAllApiServer(namespace) {
		objects = append(objects, o)
	}
	objects = append(objects, components.NewApiServerService(namespace),
		components.NewApiServerDeployment(config, "", "", ""))
	for _, s := range components.NewVirtAPIAPIServices(namespace) {
		objects = append(objects, s)
	}
	objects = append(objects, components.NewVirtAPIMutatingWebhookConfiguration(namespace),
		components.NewVirtAPIValidatingWebhookConfiguration(namespace))
	var docs [][]byte
	for _, o := range objects {
		docs = append(docs, clean(mustMarshal(o)))
	}
	return docs
}

// clean drops what a generator leaves that an apply should not carry: an empty
// status and a null creationTimestamp.
func clean(doc []byte) []byte {
	var obj map[string]any
	if err := yaml.Unmarshal(doc, &obj); err != nil {
		fail(err)
	}
	delete(obj, "status")
	if meta, ok := obj["metadata"].(map[string]any); ok {
		delete(meta, "creationTimestamp")
	}
	return mustMarshal(obj)
}

func mustMarshal(v any) []byte {
	out, err := yaml.Marshal(v)
	if err != nil {
		fail(err)
	}
	return out
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kubevirt-crds:", err)
	os.Exit(1)
}
