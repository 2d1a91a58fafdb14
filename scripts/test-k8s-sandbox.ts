import { KubernetesSandbox } from '../src/sandbox/index.js';

async function testJobSpawning() {
  console.log('Testing Kubernetes Job spawning...');

  const sandbox = new KubernetesSandbox('nikolaik/python-nodejs:python3.11-nodejs20-bullseye', 'default');

  try {
    // Initialize (creates Job)
    await sandbox.init();
    console.log('✅ Job created successfully');

    // Run command
    const result = await sandbox.runCommand('echo "Hello from K8s sandbox!"');
    console.log('✅ Command executed:', result.stdout);

    // Cleanup
    await sandbox.teardown();
    console.log('✅ Job deleted successfully');
  } catch (error) {
    console.error('❌ Test failed:', error);
    process.exit(1);
  }
}

testJobSpawning();
