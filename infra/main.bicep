// ctsync on Azure: the Functions custom handler (host.json, functions/*/function.json),
// one Service Bus queue per step and a dead-letter queue (queues.json, generated from
// the chain table), a storage account holding the shared store (table `ctsync`), the
// collected provisioning records (container `provisioning`) and the Functions host's own
// data, and the identities and roles they need. Instances scale out freely: every state
// write is a single-entity compare-and-swap in Table Storage.
//
// Not compiled or deployed from the build machines: they have no Bicep CLI and no Azure
// access. See README.md in this folder for what is and is not verified.
targetScope = 'resourceGroup'

@description('Name prefix for every resource.')
param name string = 'ctsync'

param location string = resourceGroup().location

@description('Application (client) id of the multi-tenant app consented in the source and target tenants. The function app signs in as it, with its managed identity as a federated credential.')
param graphAppClientId string

@description('NCRONTAB schedule of the provisioning-log harvest (six fields, UTC).')
param harvestSchedule string = '0 */15 * * * *'

@description('NCRONTAB schedule of the drift check of every managed pair (six fields, UTC).')
param driftSchedule string = '0 0 * * * *'

@description('Tenant ids ctsync may touch, comma-separated; empty allows every tenant the app can reach.')
param allowedTenants string = ''

var config = loadJsonContent('queues.json')
var queueNames = concat(config.queues, [config.deadLetterQueue])
var suffix = uniqueString(resourceGroup().id)

// Built-in role definitions.
var serviceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
var serviceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

// Names the app settings below hand to ctsync (its defaults).
var stateTable = 'ctsync'
var recordsContainer = 'provisioning'

resource bus 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: '${name}-${suffix}'
  location: location
  // Duplicate detection (message id = event id) needs Standard or Premium.
  sku: { name: 'Standard', tier: 'Standard' }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
  }
}

resource queues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [for q in queueNames: {
  parent: bus
  name: q
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P1D'
    lockDuration: 'PT5M'
    // Above the router's own attempts, so its dead letter (with a reason) comes first.
    maxDeliveryCount: 20
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
  }
}]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: take('${name}${suffix}', 24)
  location: location
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource table 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: stateTable
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: recordsContainer
  properties: { publicAccess: 'None' }
}

resource plan 'Microsoft.Web/serverfarms@2023-12-01' = {
  name: '${name}-plan-${suffix}'
  location: location
  // Elastic Premium: always-ready instances that scale out with the Service Bus queues.
  sku: { name: 'EP1', tier: 'ElasticPremium' }
  kind: 'elastic'
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2023-12-01' = {
  name: '${name}-${suffix}'
  location: location
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [
        { name: 'FUNCTIONS_EXTENSION_VERSION', value: '~4' }
        { name: 'FUNCTIONS_WORKER_RUNTIME', value: 'custom' }
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'ServiceBus__fullyQualifiedNamespace', value: '${bus.name}.servicebus.windows.net' }
        { name: 'AZURE_CLIENT_ID', value: graphAppClientId }
        { name: 'CTSYNC_MANAGED_IDENTITY', value: 'system' }
        { name: 'CTSYNC_STORE', value: 'tables' }
        { name: 'CTSYNC_TABLES_ENDPOINT', value: storage.properties.primaryEndpoints.table }
        { name: 'CTSYNC_BLOB_ENDPOINT', value: storage.properties.primaryEndpoints.blob }
        { name: 'CTSYNC_TABLE', value: stateTable }
        { name: 'CTSYNC_BLOB_CONTAINER', value: recordsContainer }
        { name: 'CTSYNC_HARVEST_SCHEDULE', value: harvestSchedule }
        { name: 'CTSYNC_DRIFT_SCHEDULE', value: driftSchedule }
        { name: 'CTSYNC_ALLOWED_TENANTS', value: allowedTenants }
      ]
    }
  }
}

resource busRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in [serviceBusDataSender, serviceBusDataReceiver]: {
  name: guid(bus.id, app.id, role)
  scope: bus
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]

// The Functions host's own data (keys, timer leases) under AzureWebJobsStorage.
resource hostStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in [storageBlobDataOwner, storageQueueDataContributor]: {
  name: guid(storage.id, app.id, role)
  scope: storage
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]

// ctsync's shared store, scoped to its table.
resource tableRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(table.id, app.id, storageTableDataContributor)
  scope: table
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
  }
}

// The collected provisioning records, scoped to their container.
resource containerRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(container.id, app.id, storageBlobDataContributor)
  scope: container
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
  }
}

@description('Add this as a federated credential (issuer https://login.microsoftonline.com/<home tenant>/v2.0, audience api://AzureADTokenExchange) on the multi-tenant app.')
output functionAppPrincipalId string = app.identity.principalId
output functionAppName string = app.name
output serviceBusNamespace string = '${bus.name}.servicebus.windows.net'
