//! The project's network and named volumes: made once, labelled, removed by label.
use std::collections::HashMap;

use bollard::models::{NetworkCreateRequest, VolumeCreateRequest};
use bollard::query_parameters::{ListNetworksOptions, RemoveVolumeOptions};

use super::Engine;
use super::error::{EngineError, status_of};
use super::spec::{network_labels, network_name, volume_labels, volume_name};

impl Engine {
    /// Creates the project's bridge network unless `observed` already holds it. A network of
    /// that name without our labels is a clash (the engine would happily make a twin).
    /// Returns the network's ID and whether this call created it.
    pub async fn ensure_network(
        &self,
        project: &str,
        observed: &[String],
    ) -> Result<(String, bool), EngineError> {
        if let Some(id) = observed.first() {
            return Ok((id.clone(), false));
        }
        let name = network_name(project);
        let filters = HashMap::from([("name".to_string(), vec![name.clone()])]);
        let same_name = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(filters),
            }))
            .await
            .map_err(|e| EngineError::api(format!("look up network {name}"), e))?;
        // The engine's name filter matches substrings; only an exact name clashes.
        if same_name
            .iter()
            .any(|n| n.name.as_deref() == Some(name.as_str()))
        {
            return Err(EngineError::NameClash {
                kind: "network",
                name,
            });
        }
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".to_string()),
            labels: Some(network_labels(project)),
            ..Default::default()
        };
        let created = self
            .docker
            .create_network(request)
            .await
            .map_err(|e| EngineError::api(format!("create network {name}"), e))?;
        Ok((created.id, true))
    }

    /// Creates a named volume of the project unless it exists with our labels. Returns the
    /// engine's name for it and whether this call created it.
    pub async fn ensure_volume(
        &self,
        project: &str,
        key: &str,
        observed: &[String],
    ) -> Result<(String, bool), EngineError> {
        let name = volume_name(project, key);
        if observed.contains(&name) {
            return Ok((name, false));
        }
        match self.docker.inspect_volume(&name).await {
            Ok(_) => {
                return Err(EngineError::NameClash {
                    kind: "volume",
                    name,
                });
            }
            Err(e) if status_of(&e) == Some(404) => {}
            Err(e) => return Err(EngineError::api(format!("look up volume {name}"), e)),
        }
        let request = VolumeCreateRequest {
            name: Some(name.clone()),
            labels: Some(volume_labels(project, key)),
            ..Default::default()
        };
        self.docker
            .create_volume(request)
            .await
            .map_err(|e| EngineError::api(format!("create volume {name}"), e))?;
        Ok((name, true))
    }

    /// Removes a network by ID; already gone is fine.
    pub async fn remove_network(&self, id: &str) -> Result<(), EngineError> {
        match self.docker.remove_network(id).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(EngineError::api(format!("remove network {id}"), e)),
        }
    }

    /// Removes a volume by name; already gone is fine.
    pub async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        match self
            .docker
            .remove_volume(name, None::<RemoveVolumeOptions>)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(EngineError::api(format!("remove volume {name}"), e)),
        }
    }
}
